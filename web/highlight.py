"""Python source shown with syntax colours and numbered lines (the DAG's Code tab).

Pygments (already installed with rich) escapes the text; each line is an anchor,
``#L-12``, so an import error can point at its line.
"""

from __future__ import annotations

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

__all__ = ["highlight_python"]

_FORMATTER = HtmlFormatter(cssclass="code source highlight", linenos="inline", lineanchors="L", wrapcode=True)
_LEXER = PythonLexer()


def highlight_python(source: str) -> Markup:
    return Markup(highlight(source, _LEXER, _FORMATTER))  # safe: Pygments escaped every token
