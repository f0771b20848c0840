"""The tables a backup holds, as the database at hand has them.

A backup reads whatever schema revision the database is at, so the tables and their columns
come from the database itself; the types that decide how a value is written come from the
models where a column has one, and from the database otherwise.

Left out: login sessions and login throttles (they mean nothing in another database), the log
of backup runs (it describes files beside the source server) and Alembic's own table (the
revision is in the manifest). The stored secrets go in only when asked for, and the database
generation never.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, inspect

import server.models
from server.backup.generation import GENERATION

LEFT_OUT = frozenset({"alembic_version", "sessions", "login_throttle", "backup_runs"})
SECRETS = "app_secrets"
# What the migrations themselves write into a new database (the default pipeline).
SEEDED = frozenset({"pipelines", "stages", "deal_reasons"})


@dataclass(frozen=True)
class Shape:
    """A table as the database has it: columns in order, primary key, self-references."""

    table: Table
    primary_key: list[str]
    self_references: list[str]

    @property
    def name(self) -> str:
        return str(self.table.name)

    @property
    def columns(self) -> list[Column[Any]]:
        return list(self.table.columns)


def database_tables(connection: Connection) -> list[Shape]:
    """Every table a backup holds, parents before children."""
    inspector = inspect(connection)
    models = server.models.Base.metadata.tables
    metadata = MetaData()
    shapes = []
    for name, _constraints in inspector.get_sorted_table_and_fkc_names():
        if name is None or name in LEFT_OUT:
            continue
        model = models.get(name)
        columns = []
        for found in inspector.get_columns(name):
            column_name = found["name"]
            modelled = model is not None and column_name in model.c
            type_ = model.c[column_name].type if model is not None and modelled else found["type"]
            columns.append(Column(column_name, type_, nullable=found["nullable"]))
        key = inspector.get_pk_constraint(name).get("constrained_columns") or []
        references = [
            column
            for foreign_key in inspector.get_foreign_keys(name)
            if foreign_key["referred_table"] == name
            for column in foreign_key["constrained_columns"]
        ]
        shapes.append(Shape(Table(name, metadata, *columns), list(key), references))
    return shapes


def secret_filter(shape: Shape) -> Any:
    """The stored secrets that travel in an archive: all but the database generation."""
    return shape.table.c.name != GENERATION
