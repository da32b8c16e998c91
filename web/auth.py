"""Users, login and the checks every write goes through.

Pages use a session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) that names a
login kept in the metadata DB, so logging out, or a new password, ends it even for a
copy of the cookie; every form carries a CSRF token tied to the session. The REST API
takes HTTP basic auth and ignores the session, so a cookie alone can never write
through it. After 5 failed logins in a minute for one user name, or from one address,
further attempts get 429 with ``Retry-After`` until the minute has passed. Roles:
Viewer reads; Op and Admin may also act (trigger, pause, clear, mark).
"""

from __future__ import annotations

import functools
import hmac
import math
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from miniflow.web.store import admin_store
from werkzeug.security import check_password_hash, generate_password_hash

__all__ = ["init_app", "hash_password", "login_required", "write_required", "csrf_token", "can_write",
           "check_credentials", "start_session", "end_session", "LoginThrottle", "LoginThrottled", "WRITE_ROLES"]

WRITE_ROLES = ("Admin", "Op")


def hash_password(password: str) -> str:
    return generate_password_hash(password)


class LoginThrottled(Exception):
    """Too many failed logins; try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class LoginThrottle:
    """Failed logins per user name and per address over the last `window` seconds."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def wait(self, keys: tuple[tuple[str, str], ...]) -> int:
        """Seconds until these keys may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key in keys:
                failures = self._failures.get(key)
                while failures and failures[0] <= now - self.window:
                    failures.popleft()
                if failures and len(failures) >= self.limit:
                    waits.append(failures[0] + self.window - now)
            return math.ceil(max(waits)) if waits else 0

    def failed(self, keys: tuple[tuple[str, str], ...]) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:
                self._failures.clear()  # a flood of names: forget rather than grow
            for key in keys:
                self._failures[key].append(now)


def check_credentials(username: str, password: str) -> Any:
    """The user row if the password matches, else None (same work either way); raises
    LoginThrottled while the user name or the address has failed too often.

    Password hashes are slow on purpose (~0.1 s), and HTTP basic auth sends the
    password with every API request; so a match is remembered for a minute, keyed by
    a keyed digest of the password and by the stored hash (a new password forgets it).
    """
    throttle: LoginThrottle = current_app.extensions["miniflow_login_throttle"]
    keys = (("user", username), ("address", request.remote_addr or ""))
    wait = throttle.wait(keys)
    if wait:
        raise LoginThrottled(wait)
    user = _check(username, password)
    if user is None:
        throttle.failed(keys)
    return user


def _check(username: str, password: str) -> Any:
    user = admin_store().get_user(username) if username.strip() else None
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


USERNAME_RULE = "use 1 to 256 letters, digits or _ . @ + -"
MIN_PASSWORD = 8


def new_user_problem(username: str, password: str) -> tuple[str, str] | None:
    """(field, what is wrong) for a user about to be created, or None: one rule for
    ``miniflow users create`` and the Users page."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.@+-]{1,256}", username):
        return "username", USERNAME_RULE
    if len(password) < MIN_PASSWORD:
        return "password", f"use at least {MIN_PASSWORD} characters"
    return None


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


def start_session(username: str) -> None:
    """Log `username` in: a new login row, named by the cookie."""
    session.clear()
    session_id = secrets.token_urlsafe(32)
    admin_store().start_session(session_id, username)
    session["sid"] = session_id
    csrf_token()


def end_session() -> None:
    session_id = session.get("sid")
    if session_id:
        admin_store().end_session(session_id)
    session.clear()


def init_app(app: Flask) -> None:
    app.extensions["miniflow_login_throttle"] = LoginThrottle()

    @app.before_request
    def load_user() -> None:
        g.user = None
        session_id = session.get("sid")
        if session_id:
            g.user = admin_store().session_user(session_id)
            if g.user is None:  # logged out, or the password changed: the cookie is worthless
                session.clear()

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {"csrf_token": csrf_token, "current_user": getattr(g, "user", None), "can_write": can_write()}
