"""Secrets: encrypting them at rest, and keeping them out of logs and pages.

**At rest.** Connection passwords and extras are stored encrypted with Fernet
(`cryptography`): AES in CBC mode with an HMAC, keyed by ``core.fernet_key`` (setting or
``MINIFLOW__CORE__FERNET_KEY``), or by a key generated on first use into
``$MINIFLOW_HOME/fernet.key`` (mode 0600). To rotate, set ``core.fernet_key`` to
``new_key,old_key`` and run ``miniflow connections rotate-fernet-key``: values are
re-encrypted with the first key, and any listed key still decrypts.

**In output.** Every connection password read, and every Variable whose name contains
one of Airflow's sensitive words (``password``, ``secret``, ``token``, ``api_key``...),
is registered with `mask_secret`; `redact` replaces registered values by ``***`` in
task logs, rendered templates, and what the UI and API show.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

__all__ = ["encrypt", "decrypt", "mask_secret", "redact", "is_sensitive", "RedactingFormatter", "SENSITIVE_WORDS"]

SENSITIVE_WORDS = frozenset({
    "access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password", "private_key",
    "secret", "token", "keyfile_dict", "service_account", "fernet_key",
})

_secrets: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None


def is_sensitive(name: str) -> bool:
    """Whether a Variable or field of this name holds a secret (Airflow's word list)."""
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


def mask_secret(value: Any) -> None:
    """From now on, print `value` as ``***`` (short values would mask ordinary words)."""
    global _pattern
    if not isinstance(value, str) or len(value) < 4:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def redact(value: Any) -> Any:
    """`value` with every registered secret replaced by ``***`` (in strings, lists, dicts)."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return _pattern.sub("***", value)
    if isinstance(value, dict):
        return {k: "***" if isinstance(k, str) and is_sensitive(k) and v else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


class RedactingFormatter(logging.Formatter):
    """A log formatter whose lines (tracebacks included) have secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return str(redact(super().format(record)))


def _fernet() -> Any:
    from cryptography.fernet import Fernet, MultiFernet

    from miniflow.config import get_config, miniflow_home

    configured = str(get_config().get("core", "fernet_key") or "").strip()
    if not configured:
        path = Path(miniflow_home()) / "fernet.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(Fernet.generate_key().decode())
        configured = path.read_text().strip()
    return MultiFernet([Fernet(key.strip().encode()) for key in configured.split(",") if key.strip()])


def encrypt(value: str | None) -> str | None:
    if value is None:
        return None
    return str(_fernet().encrypt(value.encode()).decode())


def decrypt(value: str | None) -> str | None:
    """`value` decrypted; a clear error when no configured key can read it."""
    if value is None:
        return None
    from cryptography.fernet import InvalidToken

    try:
        return str(_fernet().decrypt(value.encode()).decode())
    except InvalidToken:
        raise ValueError("a stored secret cannot be decrypted with core.fernet_key: was the key changed "
                         "without keeping the old one (new_key,old_key)?") from None


def rotate(value: str | None) -> str | None:
    """`value` re-encrypted with the first configured key."""
    if value is None:
        return None
    return str(_fernet().rotate(value.encode()).decode())
