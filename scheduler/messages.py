"""A run's messages: each variant rendered once, then one cheap copy per reader.

`MessageFactory` turns an issue's variants into message templates and fills in each reader's
part — their unsubscribe and preference links, a Message-ID, and the VERP bounce address that
lets a bounce find its delivery. Runs use it with real tokens, previews with sample links.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from urllib.parse import quote

from mailer.brand import Brand
from mailer.content import WHOLE_ISSUE_FORMATS, Issue, Story, select_stories
from mailer.dkim import DkimSigner
from mailer.message import (
    MessageTemplate,
    OutgoingMessage,
    UnsignedMessage,
    display_name,
    domain_of,
    make_message_id,
)
from mailer.render import Newsletter, Rendered, Renderer, Slot
from scheduler.planning import variant_topics
from subscribers.models import NewsletterList
from subscribers.tokens import Purpose, TokenSigner

__all__ = ["BOUNCE_PREFIX", "MessageFactory", "newsletter_identity"]

#: The local part before "+" of the VERP bounce address (bounces+TOKEN@sending domain).
BOUNCE_PREFIX = "bounces"


def newsletter_identity(
    row: NewsletterList,
    postal_address: str | None,
    language: str = "en",
    brand: Brand = Brand(),  # noqa: B008 - a frozen value, shared safely
) -> Newsletter:
    """How a list presents itself in its messages."""
    return Newsletter(
        name=row.name,
        sender_name=display_name(row.from_address) or row.name,
        postal_address=postal_address,
        language=language,
        brand=brand,
    )


@dataclass(frozen=True, slots=True)
class MessageFactory:
    """Renders the variants of one issue and turns them into per-subscriber messages.

    Used by a run (``run_id`` set, real tokens) and by previews (``run_id`` None, sample links).
    """

    renderer: Renderer
    signer: TokenSigner | None
    base_url: str
    newsletter_row: NewsletterList
    newsletter: Newsletter
    issue: Issue
    kind: str
    run_id: int | None = None
    dkim: DkimSigner | None = None
    #: Put before every subject ("[TEST] " for test sends).
    subject_prefix: str = ""
    #: The stored issue's id: its web version (the archive) is where compact stories link.
    issue_id: int | None = None

    @property
    def domain(self) -> str:
        """The sending domain: Message-IDs and the bounce address live on it."""
        return domain_of(self.newsletter_row.from_address)

    def render(self, variant: str) -> Rendered:
        """Render the variant for a topic-set key (once per run per key)."""
        topics = variant_topics(variant)
        stories = self.stories_for(topics)
        cadence = self.kind if self.kind in ("daily", "weekly") else ""
        archive = f"{self.base_url}/archive/{self.issue_id}" if self.issue_id is not None else None
        return self.renderer.render_issue(
            self.issue,
            stories,
            self.newsletter,
            topics=sorted(topics),
            cadence=cadence,
            archive_url=archive,
        )

    def stories_for(self, topics: frozenset[str]) -> tuple[Story, ...]:
        """The stories readers of a topic set receive (all or none for an article)."""
        whole = self.issue.format in WHOLE_ISSUE_FORMATS
        return select_stories(self.issue.stories, topics, whole=whole)

    def links(self, subscription_id: int | None, key: str = "") -> dict[Slot, str]:
        """The per-subscriber URLs of a message (sample URLs for a preview)."""
        if self.signer is not None and subscription_id is not None:
            unsubscribe = self.signer.make(Purpose.UNSUBSCRIBE, subscription_id, key)
            preferences = self.signer.make(Purpose.PREFERENCES, subscription_id, key)
        else:
            unsubscribe = preferences = "preview"
        return {
            Slot.UNSUBSCRIBE_URL: f"{self.base_url}/unsubscribe/{unsubscribe}",
            Slot.PREFERENCES_URL: f"{self.base_url}/preferences/{preferences}",
        }

    def bounce_token(self, delivery_id: int | None) -> str:
        """The VERP token of a delivery ("0" for previews, which have no delivery)."""
        if self.signer is None or delivery_id is None:
            return "0"
        return self.signer.make_bounce_token(delivery_id)

    def template(self, variant: str) -> MessageTemplate:
        """Render a variant and build its message template (once per run per variant)."""
        run = f"run{self.run_id}" if self.run_id is not None else "preview"
        rendered = self.render(variant)
        if self.subject_prefix:
            rendered = replace(rendered, subject=self.subject_prefix + rendered.subject)
        return MessageTemplate(
            rendered,
            sender=self.newsletter_row.from_address,
            list_id=self.newsletter_row.list_id,
            feedback_id=f"{run}:{self.newsletter_row.slug}:{self.kind}:briefmail",
            dkim=self.dkim,
        )

    def message(
        self,
        template: MessageTemplate,
        to: str,
        subscription_id: int | None = None,
        delivery_id: int | None = None,
        key: str = "",
    ) -> OutgoingMessage:
        """One recipient's copy of a variant: their links, headers and VERP bounce address."""
        return template.sign(self.unsigned(template, to, subscription_id, delivery_id, key))

    def unsigned(
        self,
        template: MessageTemplate,
        to: str,
        subscription_id: int | None = None,
        delivery_id: int | None = None,
        key: str = "",
    ) -> UnsignedMessage:
        """`message` but for its DKIM signature, which the caller has made elsewhere."""
        links = self.links(subscription_id, key)
        unsubscribe_url = links[Slot.UNSUBSCRIBE_URL]
        unsubscribe_token = unsubscribe_url.rsplit("/", 1)[1]
        domain = self.domain
        run = f"run{self.run_id}" if self.run_id is not None else "preview"
        mailto_subject = quote(f"unsubscribe {unsubscribe_token}")
        return template.fill_unsigned(
            to=to,
            message_id=make_message_id(domain, f"{run}.{delivery_id or 0}.{secrets.token_hex(6)}"),
            # VERP: the bounce address names the delivery, so a bounce finds its row; the token
            # carries a MAC, so a forged bounce cannot suppress somebody else.
            return_path=f"{BOUNCE_PREFIX}+{self.bounce_token(delivery_id)}@{domain}",
            slots=links,
            unsubscribe_url=unsubscribe_url,
            unsubscribe_mailto=f"mailto:unsubscribe@{domain}?subject={mailto_subject}",
        )
