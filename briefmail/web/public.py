"""The public pages' routes: subscribe, preferences and unsubscribe (RFC 8058), as thin adapters.

Each route reads the request (`PageAdapter.visitor`, the form's fields), calls its handler in
`subscribers.pages` and returns the handler's answer as a response. What the pages do, and why
(double opt-in, no account enumeration, CSRF, rate limits), is said there; the confirmation
link's routes are in `briefmail.web.confirm`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from briefmail.web.confirm import confirm_router
from briefmail.web.forms import FormInt, FormList, FormText, PageAdapter
from subscribers.pages import PreferencesForm, PublicPages, SubscribeForm, UnsubscribeForm
from subscribers.rules import DEFAULT_CADENCE, DEFAULT_SEND_HOUR, DEFAULT_TIMEZONE

__all__ = ["public_router"]

# Form defaults, as the handlers' own: a field the browser leaves out means the default.
_CADENCE = DEFAULT_CADENCE.value


def public_router(pages: PublicPages, http: PageAdapter) -> APIRouter:
    """The public pages as a FastAPI router (the confirmation link's routes included)."""
    router = APIRouter()
    router.include_router(confirm_router(pages, http))
    router.include_router(_subscribe_router(pages, http))

    @router.get("/preferences/{token}", response_class=HTMLResponse)
    def preferences_page(token: str) -> Response:
        """The preference centre of one subscription."""
        return http.respond(pages.preferences_page(token))

    @router.post("/preferences/{token}", response_class=HTMLResponse)
    def preferences_submit(
        request: Request,
        token: str,
        topics: FormList = [],  # noqa: B006 - FastAPI copies form defaults per request
        cadence: FormText = _CADENCE,
        timezone: FormText = DEFAULT_TIMEZONE,
        send_hour: FormInt = DEFAULT_SEND_HOUR,
        csrf: FormText = "",
    ) -> Response:
        """Save new choices; the page then previews what the new choice gets."""
        form = PreferencesForm(topics, cadence, timezone, send_hour, csrf)
        return http.respond(pages.save_preferences(token, form, http.visitor(request)))

    @router.post("/preferences/{token}/resubscribe", response_class=HTMLResponse)
    def resubscribe(
        request: Request,
        token: str,
        topics: FormList = [],  # noqa: B006 - FastAPI copies form defaults per request
        cadence: FormText = _CADENCE,
        timezone: FormText = DEFAULT_TIMEZONE,
        send_hour: FormInt = DEFAULT_SEND_HOUR,
        csrf: FormText = "",
    ) -> Response:
        """Subscribe again after unsubscribing: a new confirmation e-mail, as on the form."""
        form = PreferencesForm(topics, cadence, timezone, send_hour, csrf)
        return http.respond(pages.resubscribe(token, form, http.visitor(request)))

    @router.get("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe_page(token: str) -> Response:
        """A page with one button (and a choice to leave every list)."""
        return http.respond(pages.unsubscribe_page(token))

    @router.post("/unsubscribe/{token}", response_model=None)
    async def unsubscribe_submit(request: Request, token: str) -> Response:
        """One-click (RFC 8058) or the page's button: unsubscribe at once."""
        # Read by hand: a one-click POST carries nothing but List-Unsubscribe=One-Click.
        fields = await request.form()
        form = UnsubscribeForm(
            one_click=fields.get("List-Unsubscribe") == "One-Click",
            csrf=str(fields.get("csrf", "")),
            all_lists=bool(fields.get("all_lists")),
        )
        return http.respond(await pages.unsubscribe(token, form, http.visitor(request)))

    return router


def _subscribe_router(pages: PublicPages, http: PageAdapter) -> APIRouter:
    """GET and POST of the subscribe form, for every list and for one."""
    router = APIRouter()

    @router.get("/subscribe", response_class=HTMLResponse)
    def subscribe_page(request: Request) -> Response:
        """The subscription form for every list."""
        return http.respond(pages.subscribe_form(None, http.visitor(request)))

    @router.get("/lists/{slug}/subscribe", response_class=HTMLResponse)
    def list_subscribe_page(request: Request, slug: str) -> Response:
        """The subscription form for one list."""
        return http.respond(pages.subscribe_form(slug, http.visitor(request)))

    @router.post("/subscribe", response_class=HTMLResponse)
    async def subscribe_submit(
        request: Request,
        email: FormText = "",
        lists: FormList = [],  # noqa: B006 - FastAPI copies form defaults per request
        topics: FormList = [],  # noqa: B006
        cadence: FormText = _CADENCE,
        timezone: FormText = DEFAULT_TIMEZONE,
        send_hour: FormInt = DEFAULT_SEND_HOUR,
        csrf: FormText = "",
        website: FormText = "",
        step: FormText = "choices",
    ) -> Response:
        """Step one (the address) shows the choices; step two starts the subscription."""
        form = SubscribeForm(
            email, lists, topics, cadence, timezone, send_hour, csrf, website, step
        )
        return http.respond(pages.subscribe(None, form, http.visitor(request)))

    @router.post("/lists/{slug}/subscribe", response_class=HTMLResponse)
    async def list_subscribe_submit(
        request: Request,
        slug: str,
        email: FormText = "",
        topics: FormList = [],  # noqa: B006
        cadence: FormText = _CADENCE,
        timezone: FormText = DEFAULT_TIMEZONE,
        send_hour: FormInt = DEFAULT_SEND_HOUR,
        csrf: FormText = "",
        website: FormText = "",
        step: FormText = "choices",
    ) -> Response:
        """Subscribe to one list, in the same two steps."""
        form = SubscribeForm(
            email, [slug], topics, cadence, timezone, send_hour, csrf, website, step
        )
        return http.respond(pages.subscribe(slug, form, http.visitor(request)))

    return router
