"""The `fieldcrm` command: serve, db upgrade, user, token, demo, import, backup, restore, worker,
vapid."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from server.analytics.rfm import store_quintiles
from server.analytics.rollups import rebuild
from server.analytics.scores import score_all
from server.auth.scope import Actor
from server.auth.service import AuthService, UserService
from server.backup.archive import (
    ArchiveError,
    Manifest,
    RestoreReport,
    restore_backup,
    write_backup,
)
from server.db import Database, utcnow
from server.demo.seed import DemoLogin, DemoNotEmpty, seed_demo
from server.errors import ValidationFailed
from server.i18n import DEFAULT_LOCALE
from server.migrate import upgrade
from server.settings import Settings

T = TypeVar("T")


def _run(work: Callable[[Database, Settings], Awaitable[T]], *, migrate: bool = True) -> T:
    """Bring the schema up to date (unless ``migrate`` is false), run ``work`` against the
    database, then close it."""
    settings = Settings.from_env()

    async def go() -> T:
        database = Database(settings.database_url)
        try:
            if migrate:
                await upgrade(database)
            return await work(database, settings)
        finally:
            await database.dispose()

    try:
        return asyncio.run(go())
    except (OSError, OperationalError) as exc:
        click.echo(f"Cannot use the database {_safe_url(settings)}: {exc}", err=True)
        sys.exit(2)


async def _schema_only(_database: Database, _settings: Settings) -> None:
    """Nothing beyond what `_run` always does: bring the schema up to date."""


def _safe_url(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def _fail(failed: ValidationFailed) -> NoReturn:
    for name, messages in failed.errors.items():
        for message in messages:
            click.echo(f"{name}: {message}", err=True)
    sys.exit(1)


def _print_logins(logins: list[DemoLogin]) -> None:
    if not logins:
        return
    click.echo(f"Demo logins (the password of each: {logins[0].password}):")
    for login in logins:
        click.echo(f"  {login.role:<8} {login.email:<24} {login.name}")


@click.group()
def main() -> None:
    """FieldCRM: customer management for field sales."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=int, show_default=True)
@click.option("--demo", is_flag=True, help="Seed demo data into an empty database.")
def serve(host: str, port: int, demo: bool) -> None:
    """Upgrade the database, then serve the web app (and the worker, unless switched off)."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    from server.app import create_app  # noqa: PLC0415

    settings = Settings.from_env()
    if demo:
        try:
            _print_logins(_run(seed_demo))
        except DemoNotEmpty:
            click.echo("The database already holds data; demo data was not added.")
    else:
        _run(_schema_only)
    click.echo(f"FieldCRM on http://{host}:{port}/")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level="info",
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to FIELDCRM_DATABASE_URL."""
    _run(_schema_only)
    click.echo("Database is up to date.")


@main.group()
def analytics() -> None:
    """Analyses."""


@analytics.command("rebuild")
def analytics_rebuild() -> None:
    """Recompute every account's purchase rollup (after a bulk load around the app) and the
    RFM quintile boundaries, then what the worker does daily: the planner statistics, and
    every customer's RFM segment and predicted lifetime value."""

    async def work(database: Database, _settings: Settings) -> tuple[int, int]:
        async with database.writing() as session:
            count = await rebuild(session)
            await store_quintiles(session, utcnow())
        await database.analyze()
        return count, await score_all(database, utcnow())

    accounts, customers = _run(work)
    click.echo(f"Rebuilt the purchase rollups of {accounts} accounts; scored {customers}.")


@main.group()
def user() -> None:
    """Users."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "manager", "rep"]))
@click.option("--team", default=None)
@click.option("--locale", default=DEFAULT_LOCALE, type=click.Choice(["ja", "en"]))
@click.option("--time-zone", default="Asia/Tokyo", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password as one line of stdin.")
def user_create(
    email: str,
    name: str,
    role: str,
    team: str | None,
    locale: str,
    time_zone: str,
    password_stdin: bool,
) -> None:
    """Create a user (the password is asked for, or read from standard input)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def create(database: Database, settings: Settings) -> str:
        async with database.writing() as session:
            created = await UserService(session, Actor.system(), settings).create(
                email=email,
                name=name,
                role=role,
                password=password,
                team=team,
                locale=locale,
                time_zone=time_zone,
            )
            return str(created.id)

    try:
        user_id = _run(create)
    except ValidationFailed as failed:
        _fail(failed)
    click.echo(f"Created {role} {email} ({user_id}).")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--email", required=True)
@click.option("--name", default="", help="What the token is for.")
def token_create(email: str, name: str) -> None:
    """Print a new API bearer token for the user."""

    async def create(database: Database, settings: Settings) -> str | None:
        async with database.writing() as session:
            owner = await UserService(session, Actor.system(), settings).by_email(email)
            if owner is None or not owner.active:
                return None
            return await AuthService(session, settings).create_token(owner, name)

    made = _run(create)
    if made is None:
        click.echo(f"No active user with the e-mail address {email}.", err=True)
        sys.exit(1)
    click.echo(made)


@main.command()
@click.option("--accounts", default=200, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--seed", default=1, show_default=True, type=int)
@click.option(
    "--accounts-only",
    is_flag=True,
    help="Accounts, contacts and their search index; no purchases, visits or tasks.",
)
def demo(accounts: int, seed: int, accounts_only: bool) -> None:
    """Fill an empty database with deterministic Japanese demo data."""

    async def go(database: Database, settings: Settings) -> list[DemoLogin]:
        return await seed_demo(
            database, settings, accounts=accounts, seed=seed, history=not accounts_only
        )

    try:
        logins = _run(go)
    except DemoNotEmpty:
        click.echo("The database already holds data; demo data goes into an empty one.", err=True)
        sys.exit(1)
    click.echo(f"Added {accounts} demo accounts.")
    _print_logins(logins)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--entity", required=True, type=click.Choice(["accounts", "contacts", "purchases"]))
@click.option("--mapping", help="A saved mapping's name, or a JSON file of {header: field}.")
@click.option(
    "--duplicates",
    default="skip",
    show_default=True,
    type=click.Choice(["skip", "fill", "overwrite", "create"]),
    help="What a row that matches an existing record does.",
)
@click.option("--dry-run", is_flag=True, help="Check every row; save nothing.")
@click.option("--as", "as_email", help="The manager or admin it acts as (default: the system).")
@click.option("--sheet", help="The workbook's sheet (default: the first with data).")
def import_(
    file: Path,
    entity: str,
    mapping: str | None,
    duplicates: str,
    dry_run: bool,
    as_email: str | None,
    sheet: str | None,
) -> None:
    """Import accounts, contacts or purchases from a CSV, TSV, XLSX, XLS or ODS file."""
    from server.imports.command import read_request, run_import  # noqa: PLC0415

    try:
        request = read_request(
            file,
            entity=entity,
            mapping=mapping,
            duplicates=duplicates,
            dry_run=dry_run,
            as_email=as_email,
            sheet=sheet,
        )
    except ValidationFailed as failed:
        _fail(failed)

    async def go(database: Database, settings: Settings) -> tuple[dict[str, Any], list[Any]]:
        return await run_import(database, settings, request)

    try:
        summary, issues = _run(go)
    except ValidationFailed as failed:
        _fail(failed)
    _print_import(summary, issues, dry_run=dry_run)
    if summary["status"] == "failed" or summary["failed"]:
        sys.exit(1)


def _print_import(summary: dict[str, Any], issues: list[Any], *, dry_run: bool) -> None:
    verb = "Checked (nothing saved)" if dry_run else "Imported"
    click.echo(
        f"{verb}: {summary['position']} rows of {summary['filename']} — "
        f"created {summary['created']}, updated {summary['updated']}, "
        f"skipped {summary['skipped']}, with errors {summary['failed']}."
    )
    if summary["error"]:
        click.echo(f"Stopped: {summary['error']}", err=True)
    for issue in issues:
        where = f"row {issue.row}" + (f", {issue.column}" if issue.column else "")
        value = f" ({issue.value})" if issue.value else ""
        click.echo(f"  {where}: [{issue.kind}] {issue.message}{value}")
    if not dry_run and summary["status"] in {"done", "failed"}:
        click.echo(f"Import id {summary['id']} (undo it on /admin/import within 30 days).")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--include-secrets",
    is_flag=True,
    help="Also the stored session and VAPID keys (keep such an archive as safe as the server).",
)
def backup(file: Path, include_secrets: bool) -> None:
    """Write a backup archive of the whole database to FILE, while the server goes on.

    The database is backed up at the schema revision it is at (it is not upgraded first).
    """
    if not file.parent.is_dir():
        click.echo(f"Cannot write {file}: the folder {file.parent} does not exist.", err=True)
        sys.exit(1)
    if not os.access(file.parent, os.W_OK):
        click.echo(f"Cannot write {file}: the folder {file.parent} is not writable.", err=True)
        sys.exit(1)

    async def go(database: Database, _settings: Settings) -> Manifest:
        return await write_backup(database, file, include_secrets=include_secrets)

    try:
        manifest = _run(go, migrate=False)
    except ArchiveError as exc:
        click.echo(f"Cannot back up: {exc}.", err=True)
        sys.exit(1)
    size = file.stat().st_size / 1_000_000
    click.echo(
        f"Backed up {manifest.total_rows:,} rows of {len(manifest.tables)} tables "
        f"(schema revision {manifest.schema_revision}) to {file} ({size:,.1f} MB)."
    )
    if include_secrets:
        click.echo("The archive holds the stored session and VAPID keys.")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Empty a database that holds data, then restore.")
def restore(file: Path, replace: bool) -> None:
    """Restore a backup archive into the database (an empty one, unless --replace).

    The whole archive is checked before anything is written, and the restore is one
    transaction: it completes, or it leaves the database as it was. An archive from an older
    release is brought up to the current schema.
    """

    async def go(database: Database, _settings: Settings) -> RestoreReport:
        return await restore_backup(database, file, replace=replace)

    try:
        report = _run(go, migrate=False)
    except ArchiveError as exc:
        click.echo(f"Cannot restore {file}: {exc}.", err=True)
        sys.exit(1)
    click.echo(
        f"Restored {report.total_rows:,} rows into {len(report.tables)} tables "
        f"in {report.seconds:.1f} s (archive at schema revision {report.archive_revision}, "
        f"database now at {report.schema_revision})."
    )
    width = max(map(len, report.tables), default=0)
    for name, rows in report.tables.items():
        if rows:
            click.echo(f"  {name:<{width}} {rows:>12,}")
    click.echo("Every phone will fetch its briefcase again; queued changes still sync.")


@main.command()
def worker() -> None:
    """Run the background worker on its own (set FIELDCRM_WORKER=off on the web processes)."""
    from server import worker as jobs  # noqa: PLC0415

    async def go(database: Database, settings: Settings) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        click.echo("Worker running; Ctrl-C stops it.")
        await jobs.run(database, settings, stop)

    _run(go)


@main.command()
def vapid() -> None:
    """Print the VAPID public key browsers subscribe with (generated once if not configured)."""
    from server.push.keys import public_key, vapid_signer  # noqa: PLC0415

    async def go(database: Database, settings: Settings) -> str:
        return public_key(await vapid_signer(database, settings))

    click.echo(_run(go))


if __name__ == "__main__":
    main()
