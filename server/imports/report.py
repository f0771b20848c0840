"""The per-row report of an import as a CSV file that Japanese Excel opens as it is."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Final

from server.i18n import _l
from server.imports.models import ImportIssue, ImportJob
from server.imports.schemas import render
from server.web.files import attachment, safe_cell

HEADERS: Final = (_l("Row"), _l("Column"), _l("Kind"), _l("Message"), _l("Value"))
KINDS: Final = {
    "error": _l("error"),
    "repair": _l("repaired"),
    "duplicate": _l("duplicate"),
    "kept": _l("left as it is"),
}


def issues_csv(job: ImportJob, issues: Sequence[ImportIssue], locale: str) -> tuple[bytes, str]:
    """The report's bytes (UTF-8 with BOM) and its Content-Disposition header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([h.render(locale) for h in HEADERS])
    for issue in issues:
        message = render({"msgid": issue.msgid, "params": issue.params}, locale) or ""
        kind = KINDS.get(issue.kind)
        writer.writerow(
            [
                issue.row,
                safe_cell(issue.column),
                kind.render(locale) if kind else issue.kind,
                safe_cell(message),
                safe_cell(issue.value or ""),
            ]
        )
    stem = job.filename.rsplit(".", 1)[0]
    name = f"{stem}_report.csv"
    ascii_name = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in name)
    return ("\ufeff" + out.getvalue()).encode("utf-8"), attachment(name, ascii_name)
