"""The confirmation link of double opt-in: a page with one button, and the POST that confirms.

Corporate link scanners (Microsoft Safe Links, Proofpoint, Mimecast and the like) fetch every
link in a message before the reader sees it, so a confirmation that happened on GET would be
given by a machine. The GET answers with a page holding one button, which works without
JavaScript and POSTs back to the same URL with a CSRF token scoped to that link (scanners do
not submit forms); only the POST confirms, records the consent and sends the welcome. A link
whose subscriptions are all confirmed already says so and leads to the preferences.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from subscribers.models import Subscription, SubscriptionStatus
from subscribers.notices import Notices
from subscribers.pages import FormText, Pages, Refused, TrustedProxies, consent_context
from subscribers.service import confirm
from subscribers.tokens import CONFIRM_MAX_AGE, InvalidToken, Purpose, TokenClaims, TokenSigner

__all__ = ["confirm_router"]


def confirm_router(
    *,
    sessions: sessionmaker[Session],
    signer: TokenSigner,
    notices: Notices,
    pages: Pages,
    base_url: str,
    proxies: TrustedProxies = (),
) -> APIRouter:
    """GET /confirm/TOKEN (the button) and POST /confirm/TOKEN (confirm and welcome)."""
    router = APIRouter()

    def confirmation(session: Session, token: str) -> tuple[TokenClaims, list[Subscription]]:
        """The subscriptions a confirmation link names; Refused if the link is not valid."""
        try:
            claims = signer.read(Purpose.CONFIRM, token, max_age=CONFIRM_MAX_AGE)
        except InvalidToken as exc:
            raise Refused(400, f"{exc}.") from exc
        subscriptions = list(
            session.scalars(
                select(Subscription)
                .where(Subscription.id.in_(claims.subscription_ids))
                .order_by(Subscription.id)
                .options(
                    selectinload(Subscription.subscriber),
                    selectinload(Subscription.newsletter),
                    selectinload(Subscription.topic_choices),
                )
            )
        )
        if not subscriptions or any(s.subscriber.token_key != claims.key for s in subscriptions):
            raise Refused(400, "This link is no longer valid.")
        return claims, subscriptions

    def preferences_url(subscription: Subscription, key: str) -> str:
        token = signer.make(Purpose.PREFERENCES, subscription.id, key)
        return f"{base_url}/preferences/{token}"

    def already_confirmed(subscriptions: Sequence[Subscription], key: str) -> HTMLResponse:
        """Nothing left to confirm: say so, with the way to the preferences."""
        active = [s for s in subscriptions if s.status == SubscriptionStatus.CONFIRMED]
        if not active:  # unsubscribed (or suppressed) since: the link has done its work
            return pages.refused(Refused(400, "This link is no longer valid."))
        return pages.page(
            "already_confirmed.html",
            lists=[(s.newsletter.name, preferences_url(s, key)) for s in active],
        )

    @router.get("/confirm/{token}", response_class=HTMLResponse)
    def confirm_page(token: str) -> HTMLResponse:
        """One button that confirms; the GET itself changes nothing (link scanners fetch it)."""
        with sessions() as session:
            try:
                claims, subscriptions = confirmation(session, token)
            except Refused as exc:
                return pages.refused(exc)
            pending = [s for s in subscriptions if s.status == SubscriptionStatus.PENDING]
            if not pending:
                return already_confirmed(subscriptions, claims.key)
            return pages.page(
                "confirm.html",
                lists=[s.newsletter.name for s in pending],
                csrf=signer.make_csrf(f"confirm:{token}"),
            )

    @router.post("/confirm/{token}", response_class=HTMLResponse)
    async def confirm_submit(request: Request, token: str, csrf: FormText = "") -> HTMLResponse:
        """Confirm the subscriptions a confirmation link names; welcome the reader once."""
        with sessions() as session:
            try:
                claims, subscriptions = confirmation(session, token)
                signer.check_csrf(csrf, f"confirm:{token}")
            except Refused as exc:
                return pages.refused(exc)
            except InvalidToken as exc:
                return pages.retry(exc)
            context = consent_context(request, proxies)
            confirmed = [s for s in subscriptions if confirm(session, s, context)]
            session.commit()
            if not confirmed:  # a second press, or another tab: nobody is welcomed twice
                return already_confirmed(subscriptions, claims.key)
            welcomes = [
                (
                    s.newsletter,
                    s.subscriber.email,
                    list(s.topics),
                    str(s.cadence),
                    preferences_url(s, claims.key),
                    signer.make(Purpose.UNSUBSCRIBE, s.id, claims.key),
                )
                for s in confirmed
            ]
        for newsletter, email, topics, cadence, preferences, unsubscribe in welcomes:
            await notices.send(
                newsletter,
                email,
                "welcome",
                action_url=preferences,
                unsubscribe_url=f"{base_url}/unsubscribe/{unsubscribe}",
                topics=topics,
                cadence=cadence,
            )
        return pages.page(
            "confirmed.html",
            lists=[newsletter.name for newsletter, *_ in welcomes],
            preferences=[preferences for *_, preferences, _ in welcomes],
        )

    return router
