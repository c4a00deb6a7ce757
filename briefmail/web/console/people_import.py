"""CSV import and export of a list's subscribers in the console (editors).

An upload is kept under a random name and checked in full (`app.people.import_csv` with
``dry_run``): the preview lists every bad row (line, address, why) and what each good row
would add or change, and nothing is written. Applying names the kept file and its SHA-256, so
exactly the rows that were previewed are imported, nothing else; a file with bad rows cannot
be applied (imports are all or nothing). The kept file is removed once applied, and any left
behind is removed after a day. Export is the CLI's `subscribers export`, as a download.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from briefmail.app import Briefmail
from briefmail.web.console.ui import CSRF, ConsoleUI, Editor
from subscribers.importer import ImportFailed, RowError
from subscribers.lists import UnknownList

__all__ = ["MAX_UPLOAD", "add_routes", "uploads"]

FormText = Annotated[str, Form()]
#: The largest CSV file the console takes (about 300,000 rows); the CLI takes any size.
MAX_UPLOAD = 32 * 1024 * 1024
_KEPT = re.compile(r"^[A-Za-z0-9_-]{20,40}$")
_DAY = 86400


def uploads() -> Path:
    """Where uploaded files wait between their preview and their import."""
    folder = Path(tempfile.gettempdir()) / "briefmail-imports"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _keep(data: bytes) -> tuple[str, str]:
    """Store an upload under a fresh random name; (name, sha256). Day-old leftovers go."""
    folder = uploads()
    for old in folder.glob("*.csv"):
        if old.stat().st_mtime < time.time() - _DAY:
            old.unlink(missing_ok=True)
    name = secrets.token_urlsafe(18)
    (folder / f"{name}.csv").write_bytes(data)
    return name, hashlib.sha256(data).hexdigest()


def _kept(name: str, digest: str) -> Path:
    """The kept file the apply form names, if it is still the one previewed; else ValueError."""
    path = uploads() / f"{name}.csv"
    if not _KEPT.match(name) or not path.exists():
        raise ValueError(
            "file: the uploaded file is gone (applied already, or too old); upload it again"
        )
    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        raise ValueError("file: the file changed since its preview; upload it again")
    return path


def add_routes(routes: APIRouter, app: Briefmail, ui: ConsoleUI) -> None:
    """GET/POST /subscribers/import, POST /subscribers/import/apply, GET /subscribers/export."""
    _upload_routes(routes, app, ui)
    _apply_route(routes, app, ui)
    _export_route(routes, app, ui)


def _lists(app: Briefmail) -> list[str]:
    """The slugs of every list."""
    return [n.slug for n in app.content.lists()]


def _upload_routes(routes: APIRouter, app: Briefmail, ui: ConsoleUI) -> None:
    """GET /subscribers/import (the form) and POST /subscribers/import (the preview)."""

    @routes.get("/subscribers/import")
    def form(request: Request, operator: Editor) -> Response:
        default = app.settings.newsletter.slug
        return ui.page(request, operator, "people_import.html", lists=_lists(app), slug=default)

    @routes.post("/subscribers/import", dependencies=[CSRF])
    async def preview(
        request: Request,
        operator: Editor,
        file: Annotated[UploadFile, File()],
        list: FormText = "",
    ) -> Response:
        slug = list or app.settings.newsletter.slug
        if slug not in _lists(app):
            return ui.error(request, 400, "Check the form", f"list: there is no list {slug!r}")
        data = await file.read(MAX_UPLOAD + 1)
        if not data or len(data) > MAX_UPLOAD:
            why = "is empty" if not data else f"is larger than {MAX_UPLOAD // 2**20} MB"
            return ui.error(request, 400, "Check the form", f"file: the file {why}")
        name, digest = _keep(data)
        errors: Sequence[RowError] = ()
        report = None
        try:
            report = app.people.import_csv(uploads() / f"{name}.csv", slug, dry_run=True).report
        except ImportFailed as exc:
            errors = exc.errors
        return ui.page(
            request,
            operator,
            "people_import_preview.html",
            slug=slug,
            filename=file.filename,
            errors=errors,
            report=report,
            kept=name,
            sha256=digest,
        )


def _apply_route(routes: APIRouter, app: Briefmail, ui: ConsoleUI) -> None:
    """POST /subscribers/import/apply: the previewed file, imported."""

    @routes.post("/subscribers/import/apply", dependencies=[CSRF])
    def apply(
        request: Request,
        operator: Editor,
        kept: FormText = "",
        sha256: FormText = "",
        list: FormText = "",
        send_confirmations: FormText = "",
    ) -> Response:
        try:
            path = _kept(kept, sha256)
            imported = app.people.import_csv(
                path,
                list or None,
                send_confirmations=bool(send_confirmations),
                actor=operator.actor,
            )
        except (ValueError, ImportFailed, UnknownList) as exc:
            return ui.error(request, 400, "Not imported", str(exc))
        path.unlink(missing_ok=True)
        app.audit.record(
            operator.actor,
            "subscribers.imported",
            f"list:{list or app.settings.newsletter.slug}",
            # Counts only: the audit log outlives erasures, so it holds no address.
            after={
                "rows": imported.report.rows,
                "created": imported.report.created,
                "updated": imported.report.updated,
                "pending": len(imported.report.pending),
                "confirmations_sent": sum(c.sent for c in imported.confirmations),
            },
            ip=ui.ip(request),
        )
        return ui.page(request, operator, "people_import_done.html", imported=imported)


def _export_route(routes: APIRouter, app: Briefmail, ui: ConsoleUI) -> None:
    """GET /subscribers/export: the list as a CSV download."""

    @routes.get("/subscribers/export")
    def export(request: Request, operator: Editor, list: str = "") -> Response:
        slug = list or app.settings.newsletter.slug
        if slug not in _lists(app):
            return ui.error(request, 400, "Check the link", f"list: there is no list {slug!r}")
        path = uploads() / f"export-{secrets.token_urlsafe(12)}.csv"
        exported = app.people.export_csv(path, slug)
        app.audit.record(
            operator.actor,
            "subscribers.exported",
            f"list:{slug}",
            after={"rows": exported.rows},
            ip=ui.ip(request),
        )
        return FileResponse(
            path,
            media_type="text/csv; charset=utf-8",
            filename=f"{slug}-subscribers.csv",
            background=BackgroundTask(path.unlink, missing_ok=True),
        )
