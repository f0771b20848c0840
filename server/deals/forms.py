"""What a posted deal form means to the deal service: read once for the page and the outbox."""

from __future__ import annotations

from typing import Any

from litestar.datastructures import FormMultiDict

STAGE_INPUTS = ("stage_id", "lost_reason", "won_reason", "probability")


def stage_input(form: FormMultiDict) -> dict[str, Any]:
    """A move to another stage: the stage, and the reason when it closes the deal."""
    data: dict[str, Any] = {}
    for name in STAGE_INPUTS:
        value = str(form.get(name) or "").strip()
        if value:
            data[name] = value
    return data
