"""The workloads, one module per group; importing this package registers them.

They run (and print) in the order of `ORDER`: cheapest first, so a broken install
shows up in seconds.
"""

import importlib

ORDER = ("startup", "build", "parse", "dagtest", "backfill", "fan", "mapping", "datasets", "latency", "memory", "web",
         "scale")

for _name in ORDER:
    importlib.import_module(f"{__name__}.{_name}")
