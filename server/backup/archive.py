"""The backup core: write an archive of the database, check one, restore one.

An archive is a zip holding one JSON-lines member per table and a manifest (see
``server.backup.format``). It is the same from SQLite and from PostgreSQL, so a backup of one
restores into the other: values are written by column type (``server.backup.codec``) and rows
in primary-key order. Writing takes one consistent snapshot while the server goes on serving
and streams it table by table (``server.backup.dump``); restoring checks the whole archive
first and then loads it in one transaction, migrating an older archive to the current schema
on the way (``server.backup.restore``).

    manifest = await write_backup(database, Path("fieldcrm.zip"))
    verify_archive(Path("fieldcrm.zip"))          # raises ArchiveError, naming what is wrong
    report = await restore_backup(database, Path("fieldcrm.zip"), replace=True)
"""

from server.backup.dump import write_backup
from server.backup.format import ArchiveError, Manifest, TableEntry, read_manifest, verify_archive
from server.backup.restore import DatabaseNotEmpty, RestoreReport, restore_backup

__all__ = [
    "ArchiveError",
    "DatabaseNotEmpty",
    "Manifest",
    "RestoreReport",
    "TableEntry",
    "read_manifest",
    "restore_backup",
    "verify_archive",
    "write_backup",
]
