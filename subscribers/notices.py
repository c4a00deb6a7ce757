"""Notices: the confirm, welcome and goodbye e-mails, built and signed as newsletters are.

A notice goes through the newsletters' own path: `mailer.render.Renderer.render_notice`, then
`mailer.message.build_message` (a one-recipient `MessageTemplate`) with the list's headers, then
the same `DkimSigner`. So DMARC never rests on SPF alone, and a confirmation cannot land in spam
for want of a signature. What each kind carries:

========  =======  ===========  ================================  ====================
notice    List-Id  Feedback-ID  List-Unsubscribe (+ One-Click)    Precedence
========  =======  ===========  ================================  ====================
confirm   yes      yes          no: the reader is on no list yet  none (Auto-Submitted)
welcome   yes      yes          yes, https and mailto             bulk
goodbye   yes      yes          yes, https and mailto             bulk
========  =======  ===========  ================================  ====================

The confirmation is transactional: one message the reader has just asked for, which must
arrive at once and in the inbox (see `mailer.message` for why it is not marked bulk). The
goodbye keeps List-Unsubscribe like every other list message (DESIGN.md): its link names a
subscription that is already unsubscribed, so following it changes nothing.

Notices have no delivery row, so their envelope sender is the plain bounce address of the
list's domain rather than a VERP address naming a delivery.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from mailer.dkim import DkimSigner
from mailer.errors import DeliveryError
from mailer.message import ListHeaders, OutgoingMessage, build_message, domain_of, make_message_id
from mailer.render import Newsletter, Notice, Renderer
from mailer.transport import Transport
from subscribers.models import NewsletterList

__all__ = ["BOUNCE_ADDRESS", "FirstIssue", "Notices"]

#: The local part of the envelope sender of every notice, on the list's own domain.
BOUNCE_ADDRESS = "bounces"
log = logging.getLogger("briefmail.web")


@dataclass(frozen=True, slots=True)
class FirstIssue:
    """What a welcome promises: when the first issue arrives, and the latest one to read now."""

    #: The arrival in the reader's words and time ("tomorrow, Friday 4 December, at 07:00 …").
    arrives: str | None = None
    latest_title: str | None = None
    latest_url: str | None = None


@dataclass(frozen=True, slots=True)
class Notices:
    """Builds and sends the notices of the public pages (one transport per notice)."""

    renderer: Renderer
    identity: Callable[[NewsletterList], Newsletter]
    transport: Callable[[], Transport]
    dkim: DkimSigner | None = None

    def build(
        self,
        newsletter: NewsletterList,
        to: str,
        kind: Notice,
        *,
        action_url: str,
        unsubscribe_url: str | None = None,
        topics: Sequence[str] = (),
        cadence: str = "daily",
        valid_days: int = 7,
        first: FirstIssue | None = None,
    ) -> OutgoingMessage:
        """One notice to ``to``: rendered, with the list's headers, DKIM-signed if a key is set."""
        if (kind == "confirm") != (unsubscribe_url is None):
            # The confirmation alone has no unsubscribe; every other notice must have one.
            wrong = "has no" if kind == "confirm" else "needs an"
            raise ValueError(f"a {kind} notice {wrong} unsubscribe URL")
        rendered = self.renderer.render_notice(
            kind,
            self.identity(newsletter),
            action_url=action_url,
            unsubscribe_url=unsubscribe_url,
            topics=topics,
            cadence=cadence,
            valid_days=valid_days,
            first_issue=first.arrives if first else None,
            latest_title=first.latest_title if first else None,
            latest_url=first.latest_url if first else None,
        )
        domain = domain_of(newsletter.from_address)
        mailto = None
        if unsubscribe_url is not None:
            token = unsubscribe_url.rstrip("/").rsplit("/", 1)[-1]
            mailto = f"mailto:unsubscribe@{domain}?subject={quote(f'unsubscribe {token}')}"
        headers = ListHeaders(
            list_id=newsletter.list_id,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=mailto,
            # Gmail's feedback loop counts complaints per value: notices apart from issues.
            feedback_id=f"{kind}:{newsletter.slug}:notice:briefmail",
        )
        return build_message(
            rendered,
            sender=newsletter.from_address,
            to=to,
            list_headers=headers,
            return_path=f"{BOUNCE_ADDRESS}@{domain}",
            message_id=make_message_id(domain, f"{kind}.{secrets.token_hex(12)}"),
            dkim=self.dkim,
        )

    async def send(
        self,
        newsletter: NewsletterList,
        to: str,
        kind: Notice,
        *,
        action_url: str,
        unsubscribe_url: str | None = None,
        topics: Sequence[str] = (),
        cadence: str = "daily",
        valid_days: int = 7,
        first: FirstIssue | None = None,
    ) -> bool:
        """Build and send one notice (True if the relay took it); a failure is only logged."""
        message = self.build(
            newsletter,
            to,
            kind,
            action_url=action_url,
            unsubscribe_url=unsubscribe_url,
            topics=topics,
            cadence=cadence,
            valid_days=valid_days,
            first=first,
        )
        transport = self.transport()
        try:
            await transport.send(message)
        except DeliveryError as exc:
            # The page must look the same whatever happened; the operator reads the log.
            log.error("could not send the %s notice to %s: %s", kind, to, exc)
            return False
        finally:
            await transport.close()
        return True
