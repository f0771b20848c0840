"""Where the non-Python parts live: inside the wheel, or beside the package in a checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """``pwa`` or ``migrations``: ``server/_bundle/<name>`` when installed, else the checkout's."""
    inside = PACKAGE / "_bundle" / name
    return inside if inside.is_dir() else PACKAGE.parent / name
