"""E-mail: sending through the SMTP server in the configuration, and the alert a task
sends when it fails or is retried.

A task with ``email=`` (an address, a list, or a string separated by ``,`` or ``;``)
mails an alert when a try fails for good (``email_on_failure``, default True) and when
it will be retried (``email_on_retry``, default True), as in Airflow 2. The alert
names the task instance and its try, quotes the exception and links to the try's log
in the UI. The ``[smtp]`` settings say where mail goes (see `miniflow.defaults`); a
mail that cannot be sent is logged and changes no state.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
import time
from collections.abc import Iterable
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from miniflow.taskinstance import TaskInstance

__all__ = ["send_email", "email_addresses", "send_task_alert"]

log = logging.getLogger(__name__)


def email_addresses(addresses: str | Iterable[str] | None) -> list[str]:
    """``"a@x, b@x; c@x"`` or a list of them -> ``["a@x", "b@x", "c@x"]``."""
    if not addresses:
        return []
    items = [addresses] if isinstance(addresses, str) else list(addresses)
    return [a.strip() for item in items for a in item.replace(";", ",").split(",") if a.strip()]


def send_email(
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: list[str] | None = None,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    from_email: str | None = None,
    custom_headers: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Send an HTML mail (with `files` attached) through the configured SMTP server."""
    from miniflow.config import get_config

    config = get_config()
    sender = from_email or config.get("smtp", "smtp_mail_from")
    recipients = email_addresses(to) + email_addresses(cc) + email_addresses(bcc)
    message = MIMEMultipart(mime_subtype)
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(email_addresses(to))
    if cc:
        message["CC"] = ", ".join(email_addresses(cc))
    message["Date"] = formatdate(localtime=True)
    for name, value in (custom_headers or {}).items():
        message[name] = str(value)
    message.attach(MIMEText(html_content, "html", mime_charset))
    for name in files or []:
        part = MIMEApplication(Path(name).read_bytes(), Name=Path(name).name)
        part["Content-Disposition"] = f'attachment; filename="{Path(name).name}"'
        message.attach(part)
    _deliver(sender, recipients, message.as_string())


def _deliver(sender: str, recipients: list[str], text: str) -> None:
    from miniflow.config import get_config

    config = get_config()
    host, port = config.get("smtp", "smtp_host"), int(config.get("smtp", "smtp_port"))
    timeout = float(config.get("smtp", "smtp_timeout"))
    attempts = max(1, int(config.get("smtp", "smtp_retry_limit")))
    for attempt in range(1, attempts + 1):
        try:
            if config.get("smtp", "smtp_ssl"):
                conn: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                      context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(host, port, timeout=timeout)
            break
        except OSError:
            if attempt == attempts:
                raise
            time.sleep(min(2 ** attempt, 10))
    with conn:
        if config.get("smtp", "smtp_starttls") and not config.get("smtp", "smtp_ssl"):
            conn.starttls(context=ssl.create_default_context())
        if config.get("smtp", "smtp_user"):
            conn.login(config.get("smtp", "smtp_user"), config.get("smtp", "smtp_password"))
        conn.sendmail(sender, recipients, text)


def send_task_alert(ti: TaskInstance, exception: BaseException | None, retrying: bool) -> None:
    """Mail the task's ``email`` about a failed try; never raises."""
    task = ti.task
    state = "up_for_retry" if retrying else "failed"
    subject = f"Airflow alert: <TaskInstance: {ti.dag_id}.{ti.task_id} {ti.run_id} [{state}]>"
    body = (
        f"Try {ti.try_number} out of {ti.max_tries + 1}<br>"
        f"Exception:<br>{html.escape(str(exception)).replace(chr(10), '<br>')}<br>"
        f'Log: <a href="{html.escape(ti.log_url)}">Link</a><br>'
        f"Host: {html.escape(ti.hostname or '')}<br>"
    )
    try:
        send_email(task.email, subject, body)  # type: ignore[arg-type]
        ti.log.info("Sent an alert e-mail to %s", ", ".join(email_addresses(task.email)))
    except Exception:
        ti.log.exception("Could not send the alert e-mail to %s", task.email)
