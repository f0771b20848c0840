"""The `fieldcrm` command: serve, db upgrade, user create, token create, demo, worker."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from server.auth.scope import Actor
from server.auth.service import AuthService, UserService
from server.db import Database
from server.demo.seed import DemoLogin, DemoNotEmpty, seed_demo
from server.errors import ValidationFailed
from server.i18n import DEFAULT_LOCALE
from server.migrate import upgrade
from server.settings import Settings

T = TypeVar("T")


def _run(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    """Bring the schema up to date, run ``work`` against the database, then close it."""
    settings = Settings.from_env()

    async def go() -> T:
        database = Database(settings.database_url)
        try:
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


def _fail(failed: ValidationFailed) -> None:
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
