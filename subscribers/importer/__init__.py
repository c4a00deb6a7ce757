"""CSV import and export of one list's subscribers: every row is checked, then all or nothing.

A file starts with a header row naming its columns, in any order; only ``email`` is required:

    email            the address, normalised as subscribe() does
    name             free text (at most 200 characters)
    status           pending | confirmed | unsubscribed                 new rows: pending
    cadence          daily | weekly                                     new rows: daily
    timezone         an IANA name such as Europe/Berlin                new rows: UTC
    send_hour        0-23, the local hour of daily sends                new rows: 7
    topics           topic ids separated by "|" (or ","); empty = all   new rows: every topic
    consent_source   where the consent came from, free text            default: import
    consent_at       when it was given, ISO 8601 (no zone means UTC)    optional

For an address that is already on the list, an empty cell or a missing column keeps what is
stored; only ``topics`` differs: a present but empty topics cell means "every topic".

Files are safe to open in a spreadsheet. A cell that begins with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is run as a formula by Excel, LibreOffice and Google Sheets, so
export_csv writes such a cell with a ``'`` in front (OWASP's rule; a cell already beginning
with ``'`` and then one of those gets one more), and the import takes that one ``'`` off again:
an exported file imports back unchanged. An address whose local part begins with one of those
characters (``=1+1@example.org``) is refused as it stands; quoted (``"=1+1"@example.org``) or
neutralised (``'=1+1@example.org``) it is taken. A local part that is not ASCII is refused
unless the relay takes SMTPUTF8 (``smtputf8``); IDN domains are always fine.

Every row is checked before anything is written, and every problem is reported (the header is
line 1, so the first data row is line 2); one bad row fails the whole file with ImportFailed and
nothing is written. Suppressed addresses are skipped and counted, never re-added. Status changes
obey the transition table of `subscribers.service`; bounced and complained come only from
bounces, so an import can keep them but never set them. Each created or changed subscription gets
an ``import`` ConsentEvent whose detail holds the row's consent_source and consent_at as JSON;
export_csv reads them back, so an exported file imports back unchanged.

Imports must take seconds for 100,000 rows, so rows are never handled one ORM object at a time:
they are checked in Python, the stored state of each batch of addresses is read with a few
``IN`` queries, and all writes are bulk statements at the end, in the caller's transaction.
One module per step, in the order a file goes through them:

    read     the file: columns, UTF-8 lines, CSV rows, the spreadsheet guard, RowError
    rows     a row's cells -> a checked Row (the rules of `subscribers.rules`, per cell)
    diff     checked rows against the database -> a Plan of creates and changes, the report
    write    the Plan applied in bulk statements (the benches write their readers with it too)
    export   a list back out as a file that imports back unchanged
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from mailer.topics import Taxonomy
from subscribers.importer.diff import ImportReport, compare
from subscribers.importer.export import export_csv
from subscribers.importer.read import (
    COLUMNS,
    ImportFailed,
    RowError,
    estimate_rows,
    neutralise,
    read_records,
    restore,
)
from subscribers.importer.rows import Row, RowChecker
from subscribers.importer.write import Plan
from subscribers.models import NewsletterList

__all__ = [
    "COLUMNS",
    "ImportFailed",
    "ImportReport",
    "Progress",
    "RowError",
    "export_csv",
    "import_csv",
    "neutralise",
    "restore",
]

#: Called with (rows done, rows in the file) every ~1000 rows; the total is estimated from the
#: file's line count until the last call, which reports (rows, rows).
Progress = Callable[[int, int], object]

_BATCH = 1000  # rows checked against the database per step (and per progress call)


def import_csv(
    session: Session,
    newsletter: NewsletterList,
    path: str | Path,
    *,
    taxonomy: Taxonomy,
    dry_run: bool = False,
    progress: Progress | None = None,
    smtputf8: bool = False,
) -> ImportReport:
    """Check every row of a CSV file, then apply them all in the caller's session, or none.

    ``smtputf8``: the relay takes SMTPUTF8, so local parts need not be ASCII.
    """
    path = Path(path)
    report = ImportReport(dry_run=dry_run)
    plan = Plan(newsletter.id)
    errors: list[RowError] = []
    checker = RowChecker(taxonomy, smtputf8)
    total = estimate_rows(path)
    batch: list[Row] = []
    for line, cells in read_records(path, errors, checker.set_header):
        report.rows += 1
        row = checker.check(line, cells, errors)
        if row is not None:
            batch.append(row)
        if report.rows % _BATCH == 0:
            compare(session, plan, batch, report, errors)
            batch = []
            if progress is not None:
                progress(report.rows, max(total, report.rows))
    compare(session, plan, batch, report, errors)
    if errors:
        raise ImportFailed(path, sorted(errors, key=lambda e: e.line))
    if not dry_run:
        plan.write(session)
    if progress is not None:
        progress(report.rows, report.rows)
    return report
