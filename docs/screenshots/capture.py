"""Take the UI screenshots shown in the README and docs (1400x900, Debian's Chromium).

    python docs/screenshots/capture.py

It builds a fresh home with the examples, backfills a week of sales_etl, starts a
webserver on a free port, logs in and saves one PNG per view into this folder; every
process it starts is stopped, also on failure. Needs /usr/bin/chromium and Playwright
(``pip install -e '.[dev]'``); it never downloads a browser.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
USER, PASSWORD = "admin", "screenshots-only"
VIEWS = {  # file name -> path on the site
    "dag-list": "/",
    "grid": "/dags/sales_etl",
    "graph": "/dags/sales_etl?tab=graph",
    "gantt": "/dags/sales_etl?tab=gantt",
    "durations": "/dags/sales_etl?tab=durations",
    "calendar": "/dags/sales_etl?tab=calendar",
    "dag-details": "/dags/sales_etl?tab=about",
    "code": "/dags/sales_etl?tab=code",
    "trigger": "/dags/sales_etl?tab=trigger",
    "datasets": "/datasets",
    "browse-runs": "/browse/runs",
    "browse-task-instances": "/browse/task-instances?dag_id=sales_etl",
    "swagger": "/api/v1/ui/",
}


def miniflow(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "miniflow", *args], env=env, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MINIFLOW_HOME": home, "MINIFLOW__CORE__LOAD_EXAMPLES": "true"}
        env.pop("MINIFLOW_DATABASE_URL", None)
        miniflow(env, "db", "migrate")
        miniflow(env, "users", "create", "-u", USER, "-p", PASSWORD, "-r", "Admin", "-e", "admin@example.com")
        miniflow(env, "backfill", "sales_etl", "-s", "2024-01-01", "-e", "2024-01-07")
        miniflow(env, "dags", "reserialize")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen([sys.executable, "-m", "miniflow", "webserver", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                page = browser.new_page(base_url=base, viewport={"width": 1400, "height": 900})
                page.goto("/login")
                page.get_by_label("Username").fill(USER)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.wait_for_url(f"{base}/")
                for name, path in VIEWS.items():
                    page.goto(path)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(HERE / f"{name}.png"))
                    print(f"{name}.png  {path}")
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
