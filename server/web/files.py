"""Files the app hands out for spreadsheets to open: safe cells and the attachment header."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

# A cell starting with one of these is a formula to a spreadsheet (CSV injection, OWASP).
FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """Text a spreadsheet shows as text, never runs as a formula: a ``'`` in front if need be."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def attachment(name: str, plain: str) -> str:
    """``Content-Disposition`` for a download: ``name`` in UTF-8, ``plain`` (ASCII) for old
    clients."""
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
