"""The REST API's Swagger UI at ``/api/v1/ui/``, over the OpenAPI document.

Swagger UI's files come from the ``swagger-ui-bundle`` package (as in Airflow 2) and
are served from here: no CDN, nothing fetched by the browser from elsewhere. Its
start-up script is a file of ours too, as the pages' Content-Security-Policy allows
no inline script. "Authorize" takes a user's name and password (HTTP basic auth, as
the API does); the page itself, like the document, needs no login.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

__all__ = ["bp"]

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1/ui")
_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css",
                    "favicon-16x16.png", "favicon-32x32.png"})


@bp.get("/")
def index() -> str:
    return render_template("api_docs.html", spec_url=url_for("api.openapi"))


@bp.get("/<name>")
def asset(name: str) -> Response:
    if name not in _FILES:
        abort(404, description=f"no Swagger UI file {name!r}")
    return send_from_directory(str(swagger_ui_path), name, max_age=86400)
