"""Pages of a long list: which page the address asks for, and where a page past the
last one goes. Shared by the UI's lists (views, browse)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from flask import redirect, request

__all__ = ["int_arg", "page_arg", "pager_args", "past_last_page"]


def page_arg() -> int:
    """The page asked for, 1 to a million (a larger one is past the last page anyway)."""
    return int_arg("page", 1, 1, 1_000_000)


def int_arg(name: str, default: int, low: int, high: int) -> int:
    """The integer query parameter `name`, clamped to [low, high]; `default` if not a number."""
    try:
        return min(max(low, int(request.args.get(name, default))), high)
    except ValueError:
        return default


def past_last_page(page: int, total: int, size: int) -> Any | None:
    """A redirect to the last page when `page` is beyond it (an old link), else None."""
    last = max(1, math.ceil(total / size))
    return redirect(f"{request.path}?{pager_args(request.args, last)}") if page > last else None


def pager_args(args: Any, page: int) -> str:
    """The query string of `args` (every value of a repeated key) pointing at `page`."""
    return urlencode([(k, v) for k, v in args.items(multi=True) if k != "page"] + [("page", page)])
