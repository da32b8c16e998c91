"""The metadata store as the webserver's code may use it: pages and the API through
`WebStore`, logins and the Admin menu through `AdminStore` (see `miniflow.db.interfaces`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from miniflow.db.interfaces import AdminStore, WebStore

__all__ = ["web_store", "admin_store"]


def web_store() -> WebStore:
    store: WebStore = current_app.extensions["miniflow_store"]
    return store


def admin_store() -> AdminStore:
    store: AdminStore = current_app.extensions["miniflow_store"]
    return store
