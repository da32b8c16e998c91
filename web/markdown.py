"""Markdown of DAG and task docs (``doc_md``), rendered for the UI: CommonMark with
tables, raw HTML escaped rather than passed through, and markdown-it's link checks
(no ``javascript:`` URLs) -- a DAG file's docs cannot put script in a page."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

__all__ = ["render_markdown"]

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")


def render_markdown(text: str | None) -> Markup:
    return Markup(_MD.render(text or ""))  # safe: markdown-it escaped all raw HTML in `text`
