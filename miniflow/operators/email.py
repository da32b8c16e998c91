"""Sending e-mail from a DAG through the configured SMTP server: as a task
(`EmailOperator`) or as a callback (`SmtpNotifier`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.email import send_email
from miniflow.notifications import BaseNotifier

__all__ = ["EmailOperator", "SmtpNotifier", "send_smtp_notification"]

# What `SmtpNotifier` sends when it is given no subject or body.
_SUBJECT = "[{{ ti.state }}] {{ ti.dag_id }}.{{ ti.task_id }}, run {{ ti.run_id }}"
_BODY = """<p>Task <b>{{ ti.task_id }}</b> of DAG <b>{{ ti.dag_id }}</b>, run {{ ti.run_id }},
try {{ ti.try_number }}: <b>{{ ti.state }}</b>.</p>
{% if exception %}<pre>{{ exception | e }}</pre>{% endif %}
<p><a href="{{ ti.log_url }}">The try's log</a></p>"""


class EmailOperator(BaseOperator):
    """Mail `html_content` (templated; a ``.html`` file name is read as a template) to
    `to`, with `files` attached. ``conn_id`` is accepted; the ``[smtp]`` settings are
    used (miniflow has no connections)."""

    template_fields = ("to", "from_email", "subject", "html_content", "files", "custom_headers")
    template_fields_renderers = {"html_content": "html"}
    template_ext = (".html",)
    ui_color = "#e6faf9"

    def __init__(
        self,
        *,
        to: str | Iterable[str],
        subject: str,
        html_content: str,
        from_email: str | None = None,
        files: list[str] | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        mime_subtype: str = "mixed",
        mime_charset: str = "utf-8",
        conn_id: str | None = None,
        custom_headers: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html_content = html_content
        self.from_email = from_email
        self.files = files or []
        self.cc = cc
        self.bcc = bcc
        self.mime_subtype = mime_subtype
        self.mime_charset = mime_charset
        self.conn_id = conn_id
        self.custom_headers = custom_headers

    def execute(self, context: dict[str, Any]) -> None:
        send_email(self.to, self.subject, self.html_content, files=self.files, cc=self.cc, bcc=self.bcc,
                   mime_subtype=self.mime_subtype, mime_charset=self.mime_charset, from_email=self.from_email,
                   custom_headers=self.custom_headers)


class SmtpNotifier(BaseNotifier):
    """A callback that mails `html_content` (or the contents of the `template` file)
    with `subject`, both rendered against the callback's context; without them, a short
    report of the task instance and its error. ``smtp_conn_id`` is accepted; the
    ``[smtp]`` settings are used, as by `EmailOperator`."""

    template_fields = ("from_email", "to", "subject", "html_content", "files", "cc", "bcc", "mime_subtype",
                       "mime_charset", "custom_headers")

    def __init__(self, from_email: str | None, to: str | Iterable[str], subject: str | None = None,
                 html_content: str | None = None, files: list[str] | None = None,
                 cc: str | Iterable[str] | None = None, bcc: str | Iterable[str] | None = None,
                 mime_subtype: str = "mixed", mime_charset: str = "utf-8",
                 custom_headers: dict[str, Any] | None = None, smtp_conn_id: str = "smtp_default", *,
                 template: str | None = None) -> None:
        self.from_email = from_email
        self.to = to
        self.subject = subject or _SUBJECT
        if html_content is None and template is not None:
            html_content = Path(template).read_text()
        self.html_content = _BODY if html_content is None else html_content
        self.files = files
        self.cc = cc
        self.bcc = bcc
        self.mime_subtype = mime_subtype
        self.mime_charset = mime_charset
        self.custom_headers = custom_headers
        self.smtp_conn_id = smtp_conn_id

    def notify(self, context: dict[str, Any]) -> None:
        send_email(self.to, self.subject, self.html_content, files=self.files, cc=self.cc, bcc=self.bcc,
                   mime_subtype=self.mime_subtype, mime_charset=self.mime_charset, from_email=self.from_email,
                   custom_headers=self.custom_headers)


send_smtp_notification = SmtpNotifier
