"""miniflow's web UI and REST API (installed as ``miniflow.web``).

`create_app` builds the Flask app. It reads the metadata DB only and never imports DAG
files: DAG structure comes from the serialized copy the scheduler stores.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

__all__ = ["create_app"]


def _secret_key(home: Path, configured: str) -> str:
    """The configured key, else one generated once into the home folder (mode 0600)."""
    if configured:
        return configured
    path = home / "webserver_secret_key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def _cookie_secure(setting: str, base_url: str) -> bool:
    value = str(setting).strip().lower()
    if value == "auto":
        return str(base_url).lower().startswith("https://")
    if value in ("true", "false"):
        return value == "true"
    raise ValueError(f"webserver.cookie_secure must be true, false or auto, got {setting!r}")


def create_app(store: Any = None, testing: bool = False) -> Flask:
    from miniflow.config import get_config
    from miniflow.db.store import get_store

    config = get_config()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(config.home, config.get("webserver", "secret_key")),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=_cookie_secure(config.get("webserver", "cookie_secure"),
                                             config.get("webserver", "base_url")),
        TESTING=testing,
        PAGE_SIZE=int(config.get("webserver", "page_size")),
        MAX_CONTENT_LENGTH=1024 * 1024,
        DEFAULT_POOL_SLOTS=int(config.get("core", "default_pool_slots")),
        PARALLELISM=int(config.get("core", "parallelism")),
        METRICS_TOKEN=str(config.get("webserver", "metrics_token")),
    )
    app.extensions["miniflow_store"] = store or get_store()

    from miniflow.web import admin, api, api_docs, auth, browse, metrics, views  # admin adds its resources to the API first

    auth.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(browse.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(api_docs.bp)
    app.add_url_rule("/health", "health", api.health)  # also at the root, as in Airflow 2

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        return response

    return app
