"""Users, login and the checks every write goes through.

Pages use a session cookie (HttpOnly, SameSite=Lax) and every form carries a CSRF
token tied to the session. The REST API takes HTTP basic auth and ignores the session,
so a cookie alone can never write through it. Roles: Viewer reads; Op and Admin may
also act (trigger, pause, clear, mark).
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

__all__ = ["init_app", "hash_password", "login_required", "write_required", "csrf_token", "can_write",
           "check_credentials", "WRITE_ROLES"]

WRITE_ROLES = ("Admin", "Op")


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def check_credentials(username: str, password: str) -> Any:
    """The user row if the password matches, else None (same work either way).

    Password hashes are slow on purpose (~0.1 s), and HTTP basic auth sends the
    password with every API request; so a match is remembered for a minute, keyed by
    a keyed digest of the password and by the stored hash (a new password forgets it).
    """
    user = current_app.extensions["miniflow_store"].get_user(username) if username.strip() else None
    if user is None:
        check_password_hash(_DUMMY_HASH, password)  # keep timing alike for unknown users
        return None
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), password.encode(), "sha256").hexdigest()
    key = (username, user.password_hash, digest)
    now = time.monotonic()
    if _verified.get(key, 0.0) > now:
        return user
    if not check_password_hash(user.password_hash, password):
        return None
    if len(_verified) > 1000:
        _verified.clear()
    _verified[key] = now + 60
    return user


_verified: dict[tuple[str, str, str], float] = {}
_DUMMY_HASH = generate_password_hash("not a real password")


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRFToken", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="The form expired or did not come from this site (CSRF token missing or wrong). "
                               "Reload the page and try again.")


def can_write() -> bool:
    return getattr(g, "user", None) is not None and g.user.role in WRITE_ROLES


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if getattr(g, "user", None) is None:
            return redirect(url_for("ui.login", next=request.full_path if request.query_string else request.path))
        return view(*args, **kwargs)

    return wrapped


def write_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """A page action that changes something: logged in, CSRF checked, Op or Admin."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if getattr(g, "user", None) is None:
            return redirect(url_for("ui.login"))
        _check_csrf()
        if not can_write():
            abort(403, description="Your role (Viewer) may look but not change anything.")
        return view(*args, **kwargs)

    return wrapped


def init_app(app: Flask) -> None:
    @app.before_request
    def load_user() -> None:
        g.user = None
        username = session.get("user")
        if username:
            g.user = current_app.extensions["miniflow_store"].get_user(username)

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {"csrf_token": csrf_token, "current_user": getattr(g, "user", None), "can_write": can_write()}
