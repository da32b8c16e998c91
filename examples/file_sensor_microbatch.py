"""
### Micro-batches from an inbox folder, with a file sensor

**Batch or micro-batch?** A batch pipeline such as `sales_etl` runs once per long
interval (a day) over all the data of that interval: simple and efficient, but the
results are up to a day old. A micro-batch pipeline runs often (here every 10 minutes)
and processes whatever has arrived since the last run. Each run is still a bounded
unit of work that can be retried and inspected, so it keeps the batch model's
simplicity while getting close to the freshness of streaming (which would handle each
event as it arrives).

The tasks of each run:

1. `simulate_arrivals` drops one to three small event files into the inbox,
   `$MINIFLOW_HOME/example_data/inbox/`, standing in for an upstream system. Set the
   param `simulate_arrivals` to false and copy files there yourself instead.
2. `wait_for_files` (a `FileSensor` on `inbox/*.csv`) waits until a file is there. In
   `reschedule` mode it gives its worker slot back between pokes. After 5 minutes
   with nothing it is skipped (`soft_fail=True`), and so is the rest of the run: an
   empty inbox is not an error.
3. `process_batch` claims the files by moving them into a folder of its own run
   (`example_data/processing/<run>/`). A file that arrives during the run waits for
   the next one, and a retry finds the files it had claimed. It sums the events per
   kind into `example_data/microbatch/batch_<run>.csv`, then moves the files to
   `example_data/processed/<run>/`.

Writers should write a temporary name (`.events.csv.tmp`) and rename the file when it
is complete: the sensor matches only `*.csv`, so it never sees half a file.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
from collections import Counter
from typing import Any

from miniflow import Param
from miniflow.config import miniflow_home
from miniflow.decorators import dag, task
from miniflow.sensors.filesystem import FileSensor

DATA = miniflow_home() / "example_data"
INBOX = DATA / "inbox"
EVENT_KINDS = ["click", "view", "purchase"]


@dag(
    dag_id="file_sensor_microbatch",
    doc_md=__doc__,
    schedule="*/10 * * * *",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    params={"simulate_arrivals": Param(True, type="boolean", description="Drop sample files into the inbox")},
    tags=["example", "sensor"],
)
def file_sensor_microbatch() -> None:
    @task
    def simulate_arrivals(params: Any = None, ts_nodash: Any = None) -> int:
        """Write 1-3 event files into the inbox, each under a temporary name first."""
        if not params["simulate_arrivals"]:
            return 0
        rng = random.Random(ts_nodash)
        INBOX.mkdir(parents=True, exist_ok=True)
        count = rng.randint(1, 3)
        for n in range(count):
            path = INBOX / f"events_{ts_nodash}_{n}.csv"
            tmp = path.with_name(f".{path.name}.tmp")
            with tmp.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["event_id", "kind", "amount"])
                for i in range(rng.randint(5, 20)):
                    writer.writerow([f"{ts_nodash}-{n}-{i}", rng.choice(EVENT_KINDS), round(rng.uniform(0, 50), 2)])
            os.replace(tmp, path)
        return count

    wait_for_files = FileSensor(
        task_id="wait_for_files",
        filepath=str(INBOX / "*.csv"),
        poke_interval=15,
        timeout=5 * 60,
        mode="reschedule",
        soft_fail=True,
    )

    @task
    def process_batch(ts_nodash: Any = None) -> dict[str, Any]:
        """Claim the inbox's files, summarise their events, move them to processed/."""
        claimed = DATA / "processing" / ts_nodash
        claimed.mkdir(parents=True, exist_ok=True)
        for path in sorted(INBOX.glob("*.csv")):
            os.replace(path, claimed / path.name)  # atomic: a file is claimed by one run only
        files = sorted(claimed.glob("*.csv"))
        events: Counter[str] = Counter()
        amounts: Counter[str] = Counter()
        for path in files:
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    events[row["kind"]] += 1
                    amounts[row["kind"]] += float(row["amount"])
        output = DATA / "microbatch" / f"batch_{ts_nodash}.csv"
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["kind", "events", "amount"])
            for kind in sorted(events):
                writer.writerow([kind, events[kind], round(amounts[kind], 2)])
        done = DATA / "processed" / ts_nodash
        done.mkdir(parents=True, exist_ok=True)
        for path in files:
            os.replace(path, done / path.name)
        claimed.rmdir()
        print(f"Processed {len(files)} file(s), {sum(events.values())} events, into {output}")
        return {"files": [p.name for p in files], "events": sum(events.values()), "output": str(output)}

    simulate_arrivals() >> wait_for_files >> process_batch()


file_sensor_microbatch()
