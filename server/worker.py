"""The background worker: runs inside `serve` by default, or alone as `fieldcrm worker`.

Each pass does the periodic housekeeping; later features (reminders, rules) add their jobs
here. A pass never raises: one failure is logged and the next pass tries again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import delete

from server.auth.models import LoginThrottle
from server.auth.service import AuthService
from server.db import Database, utcnow
from server.settings import Settings

log = logging.getLogger("fieldcrm.worker")

PASS_SECONDS = 30.0
THROTTLE_MEMORY = timedelta(days=1)


async def run_once(database: Database, settings: Settings) -> None:
    """One pass: forget expired sessions and old failed-login counters."""
    async with database.writing() as session:
        purged = await AuthService(session, settings).purge_expired()
        await session.execute(
            delete(LoginThrottle).where(LoginThrottle.last_failure_at < utcnow() - THROTTLE_MEMORY)
        )
    if purged:
        log.info("purged %d expired sessions", purged)


async def run(database: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Pass after pass until ``stop`` is set."""
    while not stop.is_set():
        try:
            await run_once(database, settings)
        except Exception:
            log.exception("worker pass failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=PASS_SECONDS)
        except TimeoutError:
            continue
