"""The console's issues: the list by stage, a new issue from a file or pasted text, one issue.

An issue's page shows each story with its topics and the words that earned them, its variants
previewed at a phone's and a desktop's width (sandboxed frames of `/preview`, which answers
the rendered e-mail itself), the dry-run audience and the forms that act on it; the forms post
to `issues_actions`. Every page calls the content, revisions and sending services; what an
operator may do is decided by the role each route asks for, never by what the page shows.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from briefmail.accounts.models import Role
from briefmail.accounts.operators import OperatorView
from briefmail.app import Briefmail
from briefmail.ops.preview import PreviewError
from briefmail.services.content import STAGES, IngestResult
from briefmail.web.console.ui import CSRF, ConsoleUI, Editor, Viewer, frameable
from mailer.errors import DeliveryError
from mailer.ingest import FORMATS as INGEST_FORMATS
from mailer.ingest import MARKUPS, IngestError
from mailer.topics import UnknownTopic
from scheduler.editions import IssueAlreadySent, IssueStateError, UnknownIssue
from scheduler.revisions import EditError
from scheduler.scheduling import ScheduleError
from scheduler.titles import SubjectTemplateError
from subscribers.lists import UnknownList
from subscribers.rules import RuleError

__all__ = ["REFUSALS", "IssuePages", "IssueRoutes", "router"]

#: What the library says "no" with: shown to the operator as its message, nothing changed.
REFUSALS: tuple[type[Exception], ...] = (
    IngestError,
    UnknownTopic,
    IssueStateError,
    IssueAlreadySent,
    ScheduleError,
    RuleError,
    PreviewError,
    SubjectTemplateError,
    UnknownList,
    DeliveryError,
)
#: The formats an operator may choose; "auto" lets the detection decide (and say why).
FORMATS = ("auto", *INGEST_FORMATS, *MARKUPS)
#: The largest upload taken: a real issue is a few hundred KB at most.
MAX_UPLOAD = 2_000_000
#: The preview widths: a phone's and a desktop client's reading pane.
WIDTHS = (375, 600)


@lru_cache(maxsize=1)
def zones() -> tuple[str, ...]:
    """Every IANA time zone, for the schedule form's select."""
    return tuple(sorted(zoneinfo.available_timezones()))


class IssuePages:
    """What the issue pages share: the page's context, and the answer to a refusal."""

    def __init__(self, app: Briefmail, ui: ConsoleUI) -> None:
        self.app = app
        self.ui = ui

    def slug(self, issue_id: int) -> str:
        """The issue's list; a 404 page when no list has it."""
        try:
            return self.app.content.list_of(issue_id)
        except UnknownIssue as exc:
            from fastapi import HTTPException

            raise HTTPException(404, str(exc)) from None

    def stories(self, issue_id: int, slug: str, operator: OperatorView) -> dict[str, Any]:
        """The issue as it stands and why each story has its topics (the stories fragment)."""
        view = self.app.content.issue(issue_id, slug)
        evidence = self.app.content.explain(issue_id, slug)
        return {
            "operator": operator,
            "may_edit": operator.may(Role.EDITOR),
            "may_send": operator.may(Role.OWNER),
            "view": view,
            "issue": view.issue,
            "slug": slug,
            "evidence": {item.position: item for item in evidence},
            # What tagging alone gives each story: where an editor chose otherwise, the page says.
            "tagged": {
                item.position: tuple(sorted({e.topic for e in item.evidence if not e.dropped}))
                for item in evidence
            },
            "topics": self.app.content.topics(),
            "editable": view.status != "sent",
        }

    def context(self, issue_id: int, operator: OperatorView) -> dict[str, Any]:
        """Everything the issue page shows (the audience is fetched by its own request)."""
        slug = self.slug(issue_id)
        context = self.stories(issue_id, slug, operator)
        context["variants"] = [
            {
                "topics": topics,
                "query": ",".join(topics),
                "label": ", ".join(topics) or "every topic",
            }
            for topics in self.app.content.audience_topics(issue_id, slug)
        ]
        context["widths"] = WIDTHS
        context["zones"] = zones()
        context["zone"] = self.app.settings.schedule.timezone
        context["run_id"] = self.app.sending.run_of(issue_id)
        return context

    def refused(
        self, request: Request, operator: OperatorView, issue_id: int, why: Exception | str
    ) -> Response:
        """A refused action: the issue page again (nothing changed) with the library's reason.

        A state conflict (a sent issue, a draft to schedule) is a 409, a bad value a 400.
        """
        conflict = isinstance(why, IssueStateError | IssueAlreadySent) and not isinstance(
            why, EditError
        )
        context = self.context(issue_id, operator)
        return self.ui.page(
            request,
            context.pop("operator"),
            "issues_show.html",
            status_code=409 if conflict else 400,
            error=str(why),
            **context,
        )


def _listing(app: Briefmail, list_slug: str | None, stage: str | None) -> list[dict[str, Any]]:
    """Each list (or the one chosen) with its issues at the chosen stage, newest first."""
    lists = app.content.lists()
    chosen = [one for one in lists if not list_slug or one.slug == list_slug]
    return [
        {"list": one, "issues": app.content.issues(one.slug, stage=stage or None)} for one in chosen
    ]


class IssueRoutes(IssuePages):
    """The GET pages and the new-issue form (bound methods are the routes' endpoints)."""

    def issue_list(
        self, request: Request, operator: Viewer, list: str = "", stage: str = ""
    ) -> Response:
        """Every list's issues, by stage; filtered by list and stage."""
        lists = self.app.content.lists()
        if list and list not in {one.slug for one in lists}:
            return self.ui.error(request, 404, "Not found", f"list: no list {list!r}")
        if stage and stage not in STAGES:
            return self.ui.error(
                request, 400, "Check the filter", f"stage: one of {', '.join(STAGES)}"
            )
        return self.ui.page(
            request,
            operator,
            "issues.html",
            may_edit=operator.may(Role.EDITOR),
            groups=_listing(self.app, list or None, stage or None),
            lists=lists,
            stages=STAGES,
            chosen_list=list,
            chosen_stage=stage,
        )

    def new_issue(self, request: Request, operator: Editor) -> Response:
        """The form to upload a file or paste an issue's text."""
        return self._new_page(request, operator)

    def _new_page(
        self, request: Request, operator: OperatorView, status_code: int = 200, **context: Any
    ) -> Response:
        context.setdefault("chosen_list", self.app.settings.newsletter.slug)
        context.setdefault("chosen_format", "auto")
        return self.ui.page(
            request,
            operator,
            "issues_new.html",
            status_code=status_code,
            lists=self.app.content.lists(),
            formats=FORMATS,
            **context,
        )

    async def ingest(
        self,
        request: Request,
        operator: Editor,
        list: Annotated[str, Form()] = "",
        format: Annotated[str, Form()] = "auto",
        text: Annotated[str, Form()] = "",
        action: Annotated[str, Form()] = "store",
        file: Annotated[UploadFile | None, File()] = None,
    ) -> Response:
        """Check (parse and tag, store nothing) or store an uploaded or pasted issue."""
        kept: dict[str, Any] = {"chosen_list": list, "chosen_format": format, "text": text}
        source, filename, problem = await _source(file, text)
        if problem is None and format not in FORMATS:
            problem = f"format: one of {', '.join(FORMATS)}"
        if problem is not None:
            return self._new_page(request, operator, 400, error=problem, **kept)
        try:
            result = self.app.content.ingest_text(
                source,
                list or None,
                filename=filename,
                format=format,
                dry_run=action == "check",
                actor=operator.actor,
            )
        except REFUSALS as exc:
            return self._new_page(request, operator, 400, error=str(exc), **kept)
        if result.issue_id is None:
            return self._new_page(request, operator, checked=result, **kept)
        return self._stored(request, operator, result, list, filename)

    def _stored(
        self,
        request: Request,
        operator: OperatorView,
        result: IngestResult,
        list_slug: str,
        filename: str,
    ) -> Response:
        """Audit a stored issue and show it, saying how its format was chosen."""
        detection = result.detection
        self.app.audit.record(
            operator.actor,
            "issue.ingest",
            f"issue:{result.issue_id}",
            after={
                "list": self.app.content.list_slug(list_slug or None),
                "source": filename,
                "format": detection.format,
                "outcome": str(result.outcome),
                "stories": len(result.issue.stories),
            },
            ip=self.ui.ip(request),
        )
        status = self.app.content.issue(result.issue_id or 0).status
        return self.ui.redirect(
            f"/admin/issues/{result.issue_id}",
            f"Issue {result.issue_id} {result.outcome} as a{'n' if status[0] in 'aeiou' else ''} "
            f"{status}: read as {detection.format} ({detection.reason}), "
            f"{len(result.issue.stories)} stories"
            + "".join(f" — warning: {w}" for w in detection.warnings),
        )

    def issue_page(self, request: Request, operator: Viewer, issue_id: int) -> Response:
        """One issue: stories, topics and evidence, previews, actions, history."""
        context = self.context(issue_id, operator)
        return self.ui.page(request, context.pop("operator"), "issues_show.html", **context)

    def preview(
        self, operator: Viewer, issue_id: int, topics: str = "", format: str = "html"
    ) -> Response:
        """The e-mail a reader of these topics would get, as HTML or its plain-text twin."""
        chosen = [t.strip() for t in topics.split(",") if t.strip()]
        try:
            shown = self.app.content.variant(issue_id, self.slug(issue_id), chosen)
        except (PreviewError, UnknownTopic) as exc:
            return frameable(PlainTextResponse(str(exc), status_code=400))
        if format == "text":
            return frameable(PlainTextResponse(shown.rendered.text))
        return frameable(HTMLResponse(shown.rendered.browser_html))  # cid: logo as data:

    def previews(self, request: Request, operator: Viewer, issue_id: int) -> Response:
        """The previews again (htmx fetches them after an edit changed the issue)."""
        context = self.context(issue_id, operator)
        return self.ui.fragment(request, "_issue_previews.html", **context)

    def audience(self, request: Request, operator: Viewer, issue_id: int) -> Response:
        """Who a send would reach now, by variant and send hour (a fragment for htmx)."""
        slug = self.slug(issue_id)
        dry = self.app.sending.dry_run(issue_id, slug)
        if request.headers.get("hx-request"):
            return self.ui.fragment(
                request, "_issue_audience.html", operator=operator, dry=dry, issue_id=issue_id
            )
        view = self.app.content.issue(issue_id, slug)
        return self.ui.page(
            request, operator, "issues_audience.html", dry=dry, issue_id=issue_id, view=view
        )


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """The issue list, the new-issue form and one issue's page with its previews and audience."""
    from briefmail.web.console.issues_actions import router as actions

    pages = IssueRoutes(app, ui)
    routes = APIRouter()
    for path, endpoint in (
        ("/issues", pages.issue_list),
        ("/issues/new", pages.new_issue),
        ("/issues/{issue_id}", pages.issue_page),
        ("/issues/{issue_id}/audience", pages.audience),
        ("/issues/{issue_id}/previews", pages.previews),
    ):
        routes.add_api_route(path, endpoint, methods=["GET"], response_class=HTMLResponse)
    routes.add_api_route("/issues/new", pages.ingest, methods=["POST"], dependencies=[CSRF])
    routes.add_api_route("/issues/{issue_id}/preview", pages.preview, methods=["GET"])
    routes.include_router(actions(app, ui, pages))
    return routes


async def _source(file: UploadFile | None, text: str) -> tuple[str, str, str | None]:
    """The issue's text and file name from the upload or the textarea; or what is wrong."""
    if file is not None and file.filename:
        data = await file.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return "", "", f"file: larger than {MAX_UPLOAD // 1_000_000} MB"
        try:
            decoded = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return "", "", f"file: not UTF-8 text (byte {exc.start})"
        if decoded.strip():
            return decoded, file.filename, None
    if text.strip():
        return text, "pasted.txt", None
    return "", "", "file or text: upload a file or paste the issue's text"
