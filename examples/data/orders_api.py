"""A tiny orders API for the `orders_api` example DAG: ``GET /orders?date=YYYY-MM-DD``
answers the day's orders as JSON (the same orders for the same day, every time).

    python examples/data/orders_api.py --port 8765
    export AIRFLOW_CONN_ORDERS_API=http://127.0.0.1:8765
    miniflow dags test orders_api 2024-01-05 -S examples

The example's test starts it in a thread with `serve`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PRODUCTS = {"Widget": 9.5, "Gadget": 24.0, "Gizmo": 3.25, "Doohickey": 12.75}


def orders_of(day: dt.date) -> list[dict[str, Any]]:
    """The orders of `day`: 3 to 12 of them, seeded by the date."""
    rng = random.Random(day.toordinal())
    orders = []
    for n in range(rng.randint(3, 12)):
        product = rng.choice(sorted(PRODUCTS))
        orders.append({"order_id": day.toordinal() * 100 + n, "order_date": day.isoformat(), "product": product,
                       "quantity": rng.randint(1, 20), "unit_price": PRODUCTS[product]})
    return orders


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the name http.server calls
        url = urlsplit(self.path)
        if url.path.rstrip("/") != "/orders":
            return self._reply(404, {"error": f"no such resource {url.path!r}; try /orders?date=2024-01-05"})
        try:
            day = dt.date.fromisoformat(parse_qs(url.query).get("date", [""])[0])
        except ValueError:
            return self._reply(400, {"error": "give the day as ?date=YYYY-MM-DD"})
        return self._reply(200, orders_of(day))

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the test output stays clean
        pass


def serve(port: int = 0) -> ThreadingHTTPServer:
    """Start the API in a background thread on 127.0.0.1 (`port` 0: any free one);
    ``server.server_address[1]`` is its port, ``server.shutdown()`` stops it."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    with ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), _Handler) as httpd:
        httpd.serve_forever()
