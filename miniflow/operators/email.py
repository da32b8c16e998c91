"""EmailOperator: send an e-mail through the configured SMTP server."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.email import send_email

__all__ = ["EmailOperator"]


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
