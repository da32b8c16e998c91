"""The steps of the sales ETL, shared by the `sales_etl` and `sales_etl_taskflow` DAGs.

Each step is a plain function of file paths, a database URL and the run's data
interval: the two DAGs wire the same functions in their two styles, and tests can call
them directly. Where things live (under ``$MINIFLOW_HOME/example_data/``)::

    sales.csv                                 the source, generated on first use
    staging/<dag_id>/<day>/raw.csv            the interval's rows as extracted
    staging/<dag_id>/<day>/clean.csv          the same rows after the transform
    sales.db                                  the warehouse (SQLite), unless
                                              sales_etl_db_url names another database
    reports/<dag_id>/sales_summary_<day>.csv  the summary, and a small HTML page beside it

**Which rows a run owns.** Sale dates are whole days; a day belongs to a run when its
midnight (UTC) lies in the run's data interval ``[data_interval_start,
data_interval_end)``. A scheduled daily run for ``ds=2024-01-05`` owns 2024-01-05. A
manual run (``miniflow dags test sales_etl 2024-01-05``) covers the last complete day
before its logical date, 2024-01-04, as in Airflow 2.10.

**Idempotence.** The load deletes the interval's rows and inserts the new ones in one
transaction, so running a day twice leaves the same table as running it once.

**Cleaning rules**, applied in this order (each counted in the transform's result):
text is stripped, inner spaces collapsed and title-cased; dates are parsed from
``YYYY-MM-DD``, ``YYYY/MM/DD`` or ``DD.MM.YYYY``; a missing revenue is imputed as
quantity x unit price, a missing unit price as revenue / quantity, a missing region as
"Unknown"; then rows are dropped for: a bad date, a date outside the interval, a
missing order id / product / quantity / revenue, negative revenue, a quantity below 1,
and a repeated order id (the first one is kept).

pandas is imported at module level on purpose: miniflow's workers parse a DAG file once
and fork each task from that process, so the import is paid once per worker instead of
once per task (the scheduler pays it once too).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from miniflow.datasets import Dataset
from miniflow.exceptions import TaskFailNow

# The sales table, as a dataset: the ETLs' load updates it, sales_report runs on it.
SALES_TABLE = Dataset("sales://warehouse/sales")

__all__ = [
    "CheckResult", "DataQualityError", "example_data_dir", "source_path", "ensure_source", "database_url",
    "setting", "interval_days", "interval_label", "staging_dir", "parse_order_dates", "clean",
    "extract", "transform", "load", "run_quality_checks", "check_quality", "write_report",
]

# A child of the task logger, so these lines land in the task's log file.
log = logging.getLogger("miniflow.task.sales_pipeline")

DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y")
TEXT_COLUMNS = ("customer", "product", "region")
REQUIRED_COLUMNS = ("order_id", "sale_date", "product", "region", "quantity", "revenue")
OUTPUT_COLUMNS = ["order_id", "sale_date", "year", "month", "day", "customer", "product", "region",
                  "quantity", "unit_price", "revenue"]
MAX_REVENUE = 50_000.0  # no single order of the catalogue comes near this
MAX_QUANTITY = 1_000


class DataQualityError(TaskFailNow):
    """A quality check failed; the message names each failed check. It fails the task
    without retrying: running the same checks on the same rows again cannot help."""


# --- where things are -----------------------------------------------------------------------


def example_data_dir() -> Path:
    """``$MINIFLOW_HOME/example_data``: every file the example pipelines read or write."""
    from miniflow.config import miniflow_home

    return miniflow_home() / "example_data"


def setting(name: str, default: str | None = None) -> str | None:
    """A setting from the environment variable ``NAME`` (upper case), else the miniflow
    Variable `name` (which ``MINIFLOW_VAR_NAME`` also sets), else `default`."""
    value = os.environ.get(name.upper())
    if value:
        return value
    from miniflow.variables import Variable

    return Variable.get(name, default_var=None) or default


def source_path(override: str | None = None) -> Path:
    return Path(override) if override else example_data_dir() / "sales.csv"


def ensure_source(path: Path) -> Path:
    """The source CSV, generated (seeded, so always the same) if it is not there yet."""
    if not path.exists():
        from miniflow.examples.data.generate_sales import write_sales_csv

        log.info("Source %s is missing: generating it", path)
        write_sales_csv(path)
    return path


def database_url() -> str:
    """The database the sales pipelines load into: the URL in ``sales_etl_db_url`` (a
    Variable, or ``SALES_ETL_DB_URL`` in the environment) when set, else the connection
    ``sales_db`` (``db migrate`` creates it as a SQLite file under example_data/; point it
    at PostgreSQL with ``AIRFLOW_CONN_SALES_DB`` or the Admin page), else that SQLite file."""
    from miniflow.exceptions import AirflowNotFoundException
    from miniflow.hooks.base import BaseHook

    url = setting("sales_etl_db_url")
    if url:
        return url
    try:
        return str(BaseHook.get_hook("sales_db").get_uri())  # type: ignore[attr-defined]
    except AirflowNotFoundException:
        path = example_data_dir() / "sales.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"


def interval_days(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """The days whose midnight (UTC) lies in [start, end), as [first, stop)."""

    def first_midnight_from(moment: dt.datetime) -> dt.date:
        moment = moment.astimezone(dt.timezone.utc)
        day = moment.date()
        return day if moment.time() == dt.time(0) else day + dt.timedelta(days=1)

    return first_midnight_from(start), first_midnight_from(end)


def interval_label(start: dt.datetime, end: dt.datetime) -> str:
    """A file-name-safe name of the interval: ``2024-01-05`` for one whole day."""
    first, stop = interval_days(start, end)
    if stop - first == dt.timedelta(days=1):
        return first.isoformat()
    return f"{first.isoformat()}_to_{stop.isoformat()}"


def staging_dir(dag_id: str, start: dt.datetime, end: dt.datetime) -> Path:
    path = example_data_dir() / "staging" / dag_id / interval_label(start, end)
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- extract and transform ------------------------------------------------------------------


def _read_raw(path: Path) -> pd.DataFrame:
    """Every column as text; empty cells and "N/A" become missing."""
    return pd.read_csv(path, dtype=str)


def parse_order_dates(values: pd.Series) -> pd.Series:
    """Dates in any of DATE_FORMATS; anything else (2024-02-30, "not a date") is NaT."""
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    for fmt in DATE_FORMATS:
        parsed = parsed.fillna(pd.to_datetime(values, format=fmt, errors="coerce"))
    return parsed


def _in_days(dates: pd.Series, start: dt.datetime, end: dt.datetime) -> pd.Series:
    first, stop = interval_days(start, end)
    return (dates >= pd.Timestamp(first)) & (dates < pd.Timestamp(stop))


def extract(source: Path, start: dt.datetime, end: dt.datetime, out: Path) -> dict[str, Any]:
    """Copy the source rows dated inside the interval, unchanged, to `out`.

    Rows whose date cannot be parsed belong to no interval; they are counted here and
    never extracted.
    """
    raw = _read_raw(source)
    dates = parse_order_dates(raw["order_date"])
    mine = raw[_in_days(dates, start, end)]
    out.parent.mkdir(parents=True, exist_ok=True)
    mine.to_csv(out, index=False)
    result = {"path": str(out), "rows": len(mine), "source_rows": len(raw),
              "undated_source_rows": int(dates.isna().sum())}
    log.info("Extracted %(rows)s of %(source_rows)s source rows (%(undated_source_rows)s have no valid date)",
             result)
    return result


def _standardise(text: pd.Series) -> pd.Series:
    cleaned = text.str.strip().str.replace(r"\s+", " ", regex=True).str.title()
    return cleaned.where(cleaned != "")


def clean(raw: pd.DataFrame, start: dt.datetime, end: dt.datetime) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the cleaning rules (see the module docstring); returns the rows and, per
    rule, how many rows it changed or dropped."""
    df = raw.copy()
    for column in TEXT_COLUMNS:
        df[column] = _standardise(df[column])
    for column in ("order_id", "quantity", "unit_price", "revenue"):
        df[column] = pd.to_numeric(df[column], errors="coerce")
    df["sale_date"] = parse_order_dates(df["order_date"])

    stats = {"rows_in": len(df)}
    impute_revenue = df["revenue"].isna() & df["quantity"].notna() & df["unit_price"].notna()
    df.loc[impute_revenue, "revenue"] = (df["quantity"] * df["unit_price"]).round(2)
    impute_price = df["unit_price"].isna() & df["revenue"].notna() & (df["quantity"] > 0)
    df.loc[impute_price, "unit_price"] = (df["revenue"] / df["quantity"]).round(2)
    stats["imputed_revenue"], stats["imputed_unit_price"] = int(impute_revenue.sum()), int(impute_price.sum())
    stats["imputed_region"] = int(df["region"].isna().sum())
    df["region"] = df["region"].fillna("Unknown")

    rules = [  # (what is dropped, the rows that stay)
        ("bad_date", lambda d: d["sale_date"].notna()),
        ("outside_interval", lambda d: _in_days(d["sale_date"], start, end)),
        ("missing_value", lambda d: d[list(REQUIRED_COLUMNS)].notna().all(axis=1)),
        ("negative_revenue", lambda d: d["revenue"] >= 0),
        ("bad_quantity", lambda d: d["quantity"] >= 1),
        ("duplicate", lambda d: ~d.duplicated("order_id", keep="first")),
    ]
    for name, keep in rules:
        kept = keep(df)
        stats[f"dropped_{name}"] = int((~kept).sum())
        df = df[kept]

    df = df.astype({"order_id": "int64", "quantity": "int64"})
    df["year"], df["month"], df["day"] = df["sale_date"].dt.year, df["sale_date"].dt.month, df["sale_date"].dt.day
    df["sale_date"] = df["sale_date"].dt.strftime("%Y-%m-%d")
    stats["rows_out"] = len(df)
    return df[OUTPUT_COLUMNS].reset_index(drop=True), stats


def transform(raw_path: Path, start: dt.datetime, end: dt.datetime, out: Path) -> dict[str, Any]:
    """Clean the extracted rows into `out`; returns the path and the counts per rule."""
    rows, stats = clean(_read_raw(raw_path), start, end)
    rows.to_csv(out, index=False)
    log.info("Transform: %s", ", ".join(f"{k}={v}" for k, v in stats.items()))
    return {"path": str(out), **stats}


# --- load -------------------------------------------------------------------------------------


def _sales_table(name: str) -> Any:
    """The warehouse table. Deliberately loose (no NOT NULL, no unique key): the load
    never fails half-way on bad data; the quality checks find it and name it."""
    from sqlalchemy import Column, Date, Float, Integer, MetaData, String, Table

    return Table(
        name, MetaData(),
        Column("order_id", Integer, index=True),
        Column("sale_date", Date, index=True),
        Column("year", Integer), Column("month", Integer), Column("day", Integer),
        Column("customer", String(100)), Column("product", String(100)), Column("region", String(50)),
        Column("quantity", Integer), Column("unit_price", Float), Column("revenue", Float),
    )


def _interval_clause(table: Any, start: dt.datetime, end: dt.datetime) -> Any:
    from sqlalchemy import and_

    first, stop = interval_days(start, end)
    return and_(table.c.sale_date >= first, table.c.sale_date < stop)


def load(clean_path: Path, db_url: str, table_name: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Replace the interval's rows in the table with the clean rows, in one transaction."""
    from sqlalchemy import create_engine, delete, insert

    rows = pd.read_csv(clean_path)
    rows["sale_date"] = pd.to_datetime(rows["sale_date"]).dt.date
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    table = _sales_table(table_name)
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            table.create(conn, checkfirst=True)
            deleted = conn.execute(delete(table).where(_interval_clause(table, start, end))).rowcount
            if records:
                conn.execute(insert(table), records)
    finally:
        engine.dispose()
    log.info("Loaded %d rows into %s (replaced %d rows of the interval)", len(records), table_name, deleted)
    return {"table": table_name, "inserted": len(records), "replaced": deleted}


# --- data quality ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def run_quality_checks(db_url: str, table_name: str, start: dt.datetime, end: dt.datetime,
                       expected_rows: int | None = None, min_rows: int = 1) -> list[CheckResult]:
    """Check the interval's rows in the table; one result per named check."""
    from sqlalchemy import create_engine, func, or_, select
    from sqlalchemy import extract as sql_extract

    table = _sales_table(table_name)
    c = table.c
    mine = _interval_clause(table, start, end)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            def offending(*conditions: Any) -> int:
                return conn.execute(select(func.count()).select_from(table).where(mine, or_(*conditions))).scalar_one()

            rows = conn.execute(select(func.count()).select_from(table).where(mine)).scalar_one()
            nulls = offending(*[c[name].is_(None) for name in REQUIRED_COLUMNS])
            revenue = offending(c.revenue < 0, c.revenue > MAX_REVENUE)
            quantity = offending(c.quantity < 1, c.quantity > MAX_QUANTITY)
            date_parts = offending(c.year != sql_extract("year", c.sale_date),
                                   c.month != sql_extract("month", c.sale_date),
                                   c.day != sql_extract("day", c.sale_date))
            repeated = select(c.order_id).where(c.order_id.in_(select(c.order_id).where(mine))) \
                .group_by(c.order_id).having(func.count() > 1).subquery()
            duplicates = conn.execute(select(func.count()).select_from(repeated)).scalar_one()
    finally:
        engine.dispose()

    expected = f"{expected_rows} expected" if expected_rows is not None else "no expectation"
    return [
        CheckResult("row_count", rows >= min_rows and expected_rows in (None, rows),
                    f"{rows} rows loaded, {expected}, at least {min_rows} required"),
        CheckResult("not_null", nulls == 0, f"{nulls} rows with a NULL in {', '.join(REQUIRED_COLUMNS)}"),
        CheckResult("revenue_range", revenue == 0, f"{revenue} rows with revenue outside [0, {MAX_REVENUE:.0f}]"),
        CheckResult("quantity_range", quantity == 0, f"{quantity} rows with quantity outside [1, {MAX_QUANTITY}]"),
        CheckResult("date_parts", date_parts == 0, f"{date_parts} rows whose year/month/day differ from sale_date"),
        CheckResult("unique_order_id", duplicates == 0,
                    f"{duplicates} order ids of the interval appear more than once in {table_name}"),
    ]


def check_quality(db_url: str, table_name: str, start: dt.datetime, end: dt.datetime,
                  expected_rows: int | None = None, min_rows: int = 1) -> dict[str, bool]:
    """Run the checks, log each, and raise DataQualityError naming every failed one."""
    results = run_quality_checks(db_url, table_name, start, end, expected_rows, min_rows)
    for result in results:
        (log.info if result.passed else log.error)("%s", result)
    failed = [r for r in results if not r.passed]
    if failed:
        raise DataQualityError("data quality check(s) failed: " + "; ".join(f"{r.name} ({r.detail})" for r in failed))
    return {r.name: r.passed for r in results}


# --- report -----------------------------------------------------------------------------------


def write_report(db_url: str, table_name: str, start: dt.datetime, end: dt.datetime,
                 out_dir: Path) -> dict[str, Any]:
    """Aggregate the interval's rows per day and product into a CSV and an HTML page."""
    from sqlalchemy import create_engine, select

    table = _sales_table(table_name)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = pd.read_sql(select(table).where(_interval_clause(table, start, end)), conn)
    finally:
        engine.dispose()
    summary = (
        rows.groupby(["sale_date", "product"], as_index=False)
        .agg(orders=("order_id", "count"), units=("quantity", "sum"), revenue=("revenue", "sum"))
        .assign(avg_order_value=lambda d: (d["revenue"] / d["orders"]).round(2),
                revenue=lambda d: d["revenue"].round(2))
    )
    label = interval_label(start, end)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, html_path = out_dir / f"sales_summary_{label}.csv", out_dir / f"sales_summary_{label}.html"
    summary.to_csv(csv_path, index=False)
    total = round(float(rows["revenue"].sum()), 2)
    title = html.escape(f"Sales summary {label}")
    html_path.write_text(
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{title}</title>\n"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head>\n"
        f"<body><h1>{title}</h1>\n<p>{len(rows)} orders, revenue {total:,.2f}</p>\n"
        f"{summary.to_html(index=False)}\n</body></html>\n",
        encoding="utf-8",
    )
    log.info("Report: %s and %s", csv_path, html_path)
    return {"csv": str(csv_path), "html": str(html_path), "orders": len(rows), "revenue": total}
