"""What an htmx request asks for: a fragment, or (boosted or plain) a full page."""

from __future__ import annotations

from typing import Any

from litestar import Request


def is_fragment(request: Request[Any, Any, Any]) -> bool:
    """True for htmx requests that swap part of a page; boosted ones want the full page."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-boosted") != "true"


# Pages that answer a fragment or a full page from one URL say so to caches.
VARY = {"Vary": "HX-Request"}
