"""The garbage collector's settings for a long-running server or worker process.

Each page or push pass makes many short-lived objects. With CPython's default thresholds
(700, 10, 10) a page's objects outlive a few young collections while other requests run, get
promoted, and are left for the full collections, which walk the whole heap: on 100,000
accounts those paused the event loop for 50–115 ms, every few seconds, and set the pages'
p99. `settle` is called once start-up is done: what the process holds by then (modules,
mappers, templates, settings) is frozen out of the collector's way, and the youngest
generation is collected every `YOUNG_THRESHOLD` allocations instead of 700, so a page's
objects are still young when they are collected (bench/README.md has the figures).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 7_000

_settled = False


def settle() -> None:
    """Freeze what the process holds by now and widen the young generation, once."""
    global _settled  # noqa: PLW0603 - once per process
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
