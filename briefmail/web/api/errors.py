"""The API's one error shape, and the library's refusals translated into it.

Every answer that is not a success is ``{"error": {"code", "message", "field"?}}``: ``code`` is
stable snake_case a program can branch on, ``message`` a sentence for the person reading the
log. The library raises its own exceptions (UnknownIssue, IssueStateError, RuleError, …); this
module is the one place that decides which HTTP status and code each one becomes, so a route
never catches anything itself. An exception nobody foresaw is logged with its traceback and
answered as a plain 500 `internal_error`: the traceback never reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "ApiRoute", "error_body", "install_error_handlers", "translate"]

log = logging.getLogger("briefmail.api")

#: The stable codes of plain HTTP refusals the router itself makes (no such path, method, …).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ApiError(Exception):
    """A refusal with its HTTP status, stable code, message and (optionally) the field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: object,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        """The JSON answer of this refusal."""
        return JSONResponse(
            error_body(self.code, self.message, self.field, **self.extra),
            status_code=self.status,
            headers=self.headers,
        )


def error_body(
    code: str, message: str, field: str | None = None, **extra: object
) -> dict[str, Any]:
    """``{"error": {...}}`` as every refusal of the API is shaped."""
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    error.update(extra)
    return {"error": error}


def _field_of(location: Sequence[object]) -> str | None:
    """The dotted field of a pydantic location: ("body", "topics", 0) is "topics.0"."""
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def validation_error(exc: RequestValidationError) -> ApiError:
    """The first complaint of FastAPI's validation, naming its field."""
    errors = list(exc.errors())
    if not errors:
        return ApiError(422, "invalid_request", "the request is not valid")
    first = errors[0]
    field = _field_of(first.get("loc", ()))
    kind = str(first.get("type", ""))
    message = str(first.get("msg", "is not valid"))
    if kind == "missing":
        return ApiError(422, "missing_field", f"{field or 'the body'} is required", field=field)
    if kind in ("json_invalid", "model_attributes_type", "dict_type") and field is None:
        return ApiError(422, "invalid_json", "the body must be a JSON object")
    if kind == "extra_forbidden":
        return ApiError(
            422, "unknown_field", f"{field} is not a field of this request", field=field
        )
    return ApiError(422, "invalid_value", f"{field or 'the body'}: {message}", field=field)


def translate(exc: Exception) -> ApiError | None:
    """The API's answer to one of the library's refusals; None for an unforeseen error."""
    from mailer.ingest.base import IngestError
    from mailer.message import AddressNotUsable
    from mailer.topics import UnknownTopic
    from scheduler.editions import IssueAlreadySent, IssueStateError
    from scheduler.revisions import EditError
    from scheduler.runs import RunConflict, RunStateError
    from scheduler.scheduling import ScheduleError
    from subscribers.adding import AddressSuppressed
    from subscribers.db import DatabaseUnavailable
    from subscribers.rules import RuleError

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AddressSuppressed):
        return ApiError(409, "address_suppressed", str(exc), field="email", reason=exc.reason)
    if isinstance(exc, IngestError):
        message = f"line {exc.line}: {exc.reason}"
        return ApiError(422, "invalid_issue", message, field="text", line=exc.line)
    if isinstance(exc, UnknownTopic):
        return ApiError(422, "unknown_topic", str(exc), field="topics")
    if isinstance(exc, RuleError):
        return ApiError(422, "invalid_value", str(exc), field=exc.field or None)
    if isinstance(exc, AddressNotUsable):
        return ApiError(422, "invalid_value", str(exc), field="email")
    if isinstance(exc, ScheduleError):
        return ApiError(422, "invalid_schedule", str(exc), field="at")
    if isinstance(exc, EditError):
        return ApiError(422, "invalid_edit", str(exc))
    if isinstance(exc, IssueStateError):
        return ApiError(409, "issue_state_conflict", str(exc))
    if isinstance(exc, IssueAlreadySent):
        return ApiError(409, "issue_already_sent", str(exc))
    if isinstance(exc, RunStateError):
        return ApiError(409, "run_state_conflict", str(exc))
    if isinstance(exc, RunConflict):
        return ApiError(409, "run_conflict", str(exc))
    if isinstance(exc, DatabaseUnavailable):
        return ApiError(503, "database_unavailable", str(exc))
    if isinstance(exc, LookupError):
        return ApiError(404, "not_found", str(exc).strip("'\""))
    if isinstance(exc, ValueError):
        return ApiError(422, "invalid_request", str(exc))
    return None


def refusal(exc: Exception) -> Response:
    """The JSON answer to any exception a route let out (unforeseen ones: a logged 500)."""
    if isinstance(exc, RequestValidationError):
        return validation_error(exc).response()
    if isinstance(exc, StarletteHTTPException):
        return http_error(exc)
    found = translate(exc)
    if found is not None:
        return found.response()
    log.exception("API request failed", exc_info=exc)
    return ApiError(500, "internal_error", "the server failed to answer; it is logged").response()


def http_error(exc: StarletteHTTPException) -> JSONResponse:
    """A plain HTTP refusal (from the router or a dependency) in the API's shape."""
    code = _HTTP_CODES.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=exc.headers)


class ApiRoute(APIRoute):
    """An /api route whose every failure (validation, auth, the library's) answers as JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped so no exception leaves it unanswered."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every failure gets the one JSON shape
                return refusal(exc)

        return answer


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


#: How a refusal outside /api is shown to a browser: the status and a page (None: as JSON).
PageForError = Callable[[Request, int], Response | None]


def install_error_handlers(web: FastAPI, page: PageForError | None = None) -> None:
    """Answer the router's own refusals (unknown path, method, malformed form) by who asks.

    Under /api, the API's JSON shape; elsewhere a browser (it accepts text/html) gets ``page``'s
    styled page, and any other client FastAPI's JSON.
    """

    def for_browser(request: Request, status: int) -> Response | None:
        if page is None or "text/html" not in request.headers.get("accept", ""):
            return None
        return page(request, status)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if _is_api(request):
            return http_error(exc)
        shown = for_browser(request, exc.status_code)
        return shown if shown is not None else await http_exception_handler(request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if _is_api(request):
            return validation_error(exc).response()
        shown = for_browser(request, 400)
        return (
            shown if shown is not None else await request_validation_exception_handler(request, exc)
        )

    web.add_exception_handler(StarletteHTTPException, on_http)
    web.add_exception_handler(RequestValidationError, on_validation)
