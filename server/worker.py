"""The background worker: runs inside `serve` by default, or alone as `fieldcrm worker`.

Each pass evaluates the follow-up rules whose day has come (and, every minute, the deal rules
"in a stage for N days"), plans the reminders that fell due, sends what is due to the push
services, and does the housekeeping; beside the passes it writes the daily backup (see
server/backup/schedule.py). Any number of workers may run at once: every job claims its work
in the database (see server/push/dispatch.py and server/rules/service.py). A pass never
raises: one failure is logged and the next pass tries again.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta

from sqlalchemy import delete

from server.analytics import ltv, rfm, scores
from server.analytics.rollups import refresh_window
from server.auth.models import LoginThrottle
from server.auth.service import AuthService
from server.backup import schedule as backup_schedule
from server.briefcase.changes import prune
from server.db import Database, utcnow
from server.duplicates import scan as duplicate_scans
from server.imports import runner as imports
from server.push.dispatch import Dispatcher
from server.push.keys import vapid_signer
from server.push.reminders import plan
from server.reports.reminders import remind_missing
from server.rules.deals import evaluate_deals
from server.rules.service import evaluate_due
from server.settings import Settings

log = logging.getLogger("fieldcrm.worker")

# Reminders go out within this long of their time.
PASS_SECONDS = 5.0
HOUSEKEEPING_EVERY = timedelta(minutes=10)
# Deals sit in a stage for days: looking for those past their rules' days once a minute is ample.
DEAL_RULES_EVERY = timedelta(minutes=1)
THROTTLE_MEMORY = timedelta(days=1)


async def housekeeping(database: Database, settings: Settings) -> None:
    """Forget expired sessions, old failed-login counters, old briefcase changes, and the
    files and undo logs of imports that can no longer be undone; move the twelve-month
    purchase totals on with time, measure the RFM quintile boundaries again every hour, and
    once a day refit the lifetime value model, refresh the planner statistics and score every
    customer."""
    async with database.writing() as session:
        purged = await AuthService(session, settings).purge_expired()
        await session.execute(
            delete(LoginThrottle).where(LoginThrottle.last_failure_at < utcnow() - THROTTLE_MEMORY)
        )
        pruned = await prune(session)
        expired = await imports.forget_old(session)
    async with database.writing() as session:
        refreshed = await refresh_window(session)
    if refreshed:
        log.info("refreshed the twelve-month totals of %d accounts", refreshed)
    async with database.writing() as session:
        if await rfm.quintiles_due(session, utcnow()):
            await rfm.store_quintiles(session, utcnow())
    await ltv.current_model(database, utcnow(), refit_stale=True)
    if await scores.due(database, utcnow()):
        if database.is_sqlite:  # PostgreSQL's autovacuum keeps its own statistics
            await database.analyze()  # the planner's picture of grown tables, once a day
        log.info(
            "scored %d customers (RFM, lifetime value)", await scores.score_all(database, utcnow())
        )
    elif await scores.predictions_due(database, utcnow()):
        log.info(
            "predicted %d customers' lifetime value",
            await ltv.keep_predictions(database, utcnow()),
        )
    if purged or pruned or expired:
        log.info(
            "purged %d expired sessions, %d old briefcase changes, %d old import files",
            purged,
            pruned,
            expired,
        )


async def reminders(
    database: Database, dispatcher: Dispatcher, now: datetime, *, deal_rules: bool = True
) -> int:
    """Fire the rules (the deal rules too, with ``deal_rules``), plan what fell due, and send
    it; the deliveries handled."""
    made = await evaluate_due(database, now)
    if made:
        log.info("rules made %d follow-ups", made)
    if deal_rules:
        fired = await evaluate_deals(database, now)
        if fired:
            log.info("deal rules fired %d times", fired)
    async with database.writing() as session:
        await plan(session, now)
    return await dispatcher.run(now)


async def report_reminders(database: Database, now: datetime) -> int:
    """Push the reps whose daily report of today is not in at their team's time (once a day
    each); the pushes made. Once a minute, beside the reminder passes: it reads every rep.
    A failure here is logged and never holds up the reminders that follow it in the pass."""
    try:
        async with database.writing() as session:
            made = await remind_missing(session, now)
    except Exception:
        log.exception("daily report reminders failed")
        return 0
    if made:
        log.info("reminded %d reps of their daily report", made)
    return made


async def run(database: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Pass after pass until ``stop`` is set."""
    dispatcher: Dispatcher | None = None
    last_housekeeping = utcnow() - HOUSEKEEPING_EVERY
    last_deal_rules = utcnow() - DEAL_RULES_EVERY
    # Imports run beside the reminder passes, so a long import never holds up a reminder.
    name = f"worker-{os.getpid()}"
    importing = asyncio.create_task(imports.work(database, stop, name))
    scanning = asyncio.create_task(duplicate_scans.work(database, stop, name))
    backing_up = asyncio.create_task(backup_schedule.work(database, settings, stop, name))
    try:
        while not stop.is_set():
            try:
                dispatcher = dispatcher or Dispatcher(
                    database, settings, await vapid_signer(database, settings)
                )
                if utcnow() - last_housekeeping >= HOUSEKEEPING_EVERY:
                    await housekeeping(database, settings)
                    last_housekeeping = utcnow()
                now = utcnow()
                deal_rules = now - last_deal_rules >= DEAL_RULES_EVERY
                if deal_rules:
                    await report_reminders(database, now)
                await reminders(database, dispatcher, now, deal_rules=deal_rules)
                if deal_rules:
                    last_deal_rules = now
            except Exception:
                log.exception("worker pass failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=PASS_SECONDS)
            except TimeoutError:
                continue
    finally:
        stop.set()
        await importing
        await scanning
        await backing_up
        if dispatcher is not None:
            await dispatcher.close()
