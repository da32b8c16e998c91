"""Generate the messy sales CSV that the sales ETL examples clean and load.

The file is deterministic: the same seed gives the same bytes. It holds about
100,000 orders from 2024-01-01 to 2024-03-31 with the faults real exports have:

- missing values (region, quantity, unit price, revenue, product),
- duplicated orders (the same order exported twice, its text cased differently),
- dates in three formats ("2024-01-05", "2024/01/05", "05.01.2024") and bad dates
  ("2024-02-30", "not a date", empty),
- negative revenue (refunds booked with the wrong sign) and zero quantities,
- text with stray spaces and random case (" wIDGET ", "pocket  gizmo").

Run it as a script::

    python examples/data/generate_sales.py -o sales.csv --rows 100000 --seed 42

or import it: ``generate_sales(rows, seed)`` returns a DataFrame and
``write_sales_csv(path, rows, seed)`` writes the file atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["PRODUCTS", "REGIONS", "FIRST_DAY", "LAST_DAY", "generate_sales", "write_sales_csv"]

# Product -> list price. The standardised (title-case) name is the key.
PRODUCTS: dict[str, float] = {
    "Widget": 9.99,
    "Gadget": 24.50,
    "Gizmo": 4.75,
    "Sprocket": 2.20,
    "Doohickey": 15.00,
    "Mega Gadget": 99.90,
    "Pocket Gizmo": 12.30,
    "Contraption": 249.00,
}
REGIONS = ["North", "South", "East", "West"]
FIRST_DAY = dt.date(2024, 1, 1)
LAST_DAY = dt.date(2024, 3, 31)

COLUMNS = ["order_id", "order_date", "customer", "product", "region", "quantity", "unit_price", "revenue"]
BAD_DATES = np.array(["2024-02-30", "2024-13-01", "31.02.2024", "not a date", "", "N/A"])


def _messy_text(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """`values` in random case, with stray spaces around and inside.

    The variants are built once per distinct value (a few thousand strings) and picked
    per row by index, which is much faster than string operations on every row.
    """
    uniques, codes = np.unique(values.astype(str), return_inverse=True)
    cased = [uniques, np.char.lower(uniques), np.char.upper(uniques), np.char.swapcase(uniques)]
    spaced = [[c, np.char.replace(c, " ", "  ")] for c in cased]
    padded = np.array([[[[left + s + right for s in variant]
                         for left, right in (("", ""), (" ", ""), ("", "  "), (" ", "  "))]
                        for variant in pair] for pair in spaced], dtype=object)  # case, inner, pad, value
    n = len(values)
    case = rng.integers(0, 4, n)
    inner = (rng.random(n) < 0.3).astype(int)
    pad = rng.choice(4, n, p=[0.75, 0.1, 0.1, 0.05])
    return padded[case, inner, pad, codes]


def _format_dates(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """ISO dates for most rows, slashes or day-first dots for some, bad values for a few."""
    dates = pd.to_datetime(days)
    iso, slashed, dotted = dates.strftime("%Y-%m-%d"), dates.strftime("%Y/%m/%d"), dates.strftime("%d.%m.%Y")
    pick = rng.random(len(days))
    out = np.where(pick < 0.85, iso, np.where(pick < 0.93, slashed, dotted)).astype(object)
    bad = rng.random(len(days)) < 0.01
    out[bad] = rng.choice(BAD_DATES, bad.sum())
    return out


def _blank(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    """`values` (as objects) with about `share` of them replaced by None."""
    out = values.astype(object)
    out[rng.random(len(values)) < share] = None
    return out


def generate_sales(rows: int = 100_000, seed: int = 42) -> pd.DataFrame:
    """About `rows` orders (97% unique, 3% duplicated), shuffled, every column as text."""
    rng = np.random.default_rng(seed)
    unique = int(rows * 0.97)
    names = np.array(list(PRODUCTS))
    product_idx = rng.integers(0, len(names), unique)
    span = (LAST_DAY - FIRST_DAY).days + 1
    days = np.datetime64(FIRST_DAY) + rng.integers(0, span, unique).astype("timedelta64[D]")
    quantity = rng.integers(1, 21, unique)
    quantity[rng.random(unique) < 0.003] = 0  # cancelled orders exported as sales
    discount = rng.choice([1.0, 1.0, 1.0, 0.9, 0.8], unique)
    unit_price = np.round(np.array(list(PRODUCTS.values()))[product_idx] * discount, 2)
    revenue = np.round(quantity * unit_price, 2)
    revenue = np.where(rng.random(unique) < 0.01, -revenue, revenue)  # refunds with the wrong sign

    orders = pd.DataFrame({
        "order_id": np.arange(100_001, 100_001 + unique),
        "order_date": _format_dates(rng, days),
        "customer": np.char.add("customer ", np.char.zfill(rng.integers(1, 5000, unique).astype(str), 5)),
        "product": _blank(rng, names[product_idx], 0.005),
        "region": _blank(rng, np.array(REGIONS)[rng.integers(0, len(REGIONS), unique)], 0.02),
        "quantity": _blank(rng, quantity, 0.01),
        "unit_price": _blank(rng, unit_price, 0.01),
        "revenue": _blank(rng, revenue, 0.02),
    })
    copies = orders.iloc[rng.choice(unique, rows - unique, replace=False)]
    table = pd.concat([orders, copies], ignore_index=True)
    for column in ("customer", "product", "region"):
        present = table[column].notna().to_numpy()
        values = table[column].to_numpy(dtype=object)
        values[present] = _messy_text(rng, values[present].astype(str))
        table[column] = values
    return table.iloc[rng.permutation(len(table))].reset_index(drop=True)[COLUMNS]


def write_sales_csv(path: str | Path, rows: int = 100_000, seed: int = 42) -> Path:
    """Write the CSV to `path` through a temporary file, so readers never see half of it
    (two runs that both find the file missing may both write it: the result is the same)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        generate_sales(rows, seed).to_csv(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="sales.csv", help="where to write the CSV")
    parser.add_argument("--rows", type=int, default=100_000, help="how many rows (default 100000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args(argv)
    path = write_sales_csv(args.output, args.rows, args.seed)
    print(f"wrote {args.rows} rows to {path}")


if __name__ == "__main__":
    main()
