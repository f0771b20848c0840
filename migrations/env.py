"""How Alembic reaches the database.

``server.migrate`` hands over a connection already inside the migration's locked transaction
(``config.attributes["connection"]``). The ``alembic`` command line hands over none: then this
file opens the database itself, at the URL set on the configuration or else
``FIELDCRM_DATABASE_URL``, and runs in the same kind of transaction.
"""

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import server.models
from server.db import make_engine
from server.migrate import migration_transaction
from server.settings import Settings

config = context.config
target_metadata = server.models.Base.metadata

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the project's own column types, importing the module that defines them."""
    if kind != "type":
        return False
    module = type(obj).__module__
    if module.split(".")[0] == "server":
        autogen_context.imports.add(f"import {module}")
        return f"{module}.{obj!r}"
    if type(obj) is JSONB and not obj.none_as_null and type(obj.astext_type) is Text:
        # Alembic spells out the default astext_type as a bare Text() when it renders for
        # another dialect (a migration generated on SQLite), which the script cannot import.
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "postgresql.JSONB()"
    return False


def configure_options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        # SQLite alters little in place; batch mode rebuilds the table instead.
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        "render_item": render_item,
    }


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **configure_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_own_engine(url: str) -> None:
    engine = make_engine(url, poolclass=NullPool)
    try:
        async with migration_transaction(engine) as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def run_migrations_offline(url: str) -> None:
    """Write the SQL out (``alembic upgrade --sql``) instead of running it."""
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **configure_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline(database_url())
elif (handed_in := config.attributes.get("connection")) is not None:
    run_migrations(handed_in)
else:
    asyncio.run(run_migrations_own_engine(database_url()))
