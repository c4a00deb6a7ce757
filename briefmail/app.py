"""The composition root: the one place where engine, transport, renderer and signer meet.

Everything else receives what it needs; only this module reads settings to decide *which*
database, relay, taxonomy and templates a running briefmail uses.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The heavy libraries (SQLAlchemy, the renderer, SMTP) are imported where they are first used, so
# a command that needs none of them (`briefmail --help`) starts fast; see bench/cli_start.py.
if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from briefmail.accounts.audit import AuditLog
    from briefmail.accounts.operators import Operators
    from briefmail.accounts.tokens import Tokens
    from briefmail.services.content import ContentService, IngestResult
    from briefmail.services.feedback import FeedbackService
    from briefmail.services.people import PeopleService
    from briefmail.services.revisions import RevisionService
    from briefmail.services.sending import Sending
    from briefmail.services.sources import SourcesService
    from briefmail.services.webhooks import WebhooksService
    from briefmail.settings import Settings
    from mailer.dkim import DkimSigner
    from mailer.render import Renderer
    from mailer.topics import Taxonomy
    from mailer.transport import Transport
    from scheduler.dispatch import Dispatcher, SendReport
    from scheduler.feedback import BounceSummary, ReadReport
    from subscribers.models import NewsletterList

log = logging.getLogger("briefmail")
_UNVERIFIED_RELAY = (
    "smtp.verify is false: the relay's TLS certificate is NOT checked, so anyone on the path "
    "can read and change every message; trust its CA with smtp.ca_file instead"
)

__all__ = ["Briefmail", "build_app"]


def _login_name() -> str:
    """The operating-system user running the command (an unknown one is "unknown")."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME (some containers)
        return "unknown"


#: What `Briefmail.acting_as` shares with the original: built once, the same for every actor.
_SHARED = ("taxonomy", "renderer", "dkim")


@dataclass
class Briefmail:
    """A configured briefmail: database, taxonomy, renderer and a transport factory."""

    settings: Settings
    #: Who the operations act for, in issue histories: "cli:alice" for a command; a console
    #: or API face sets its signed-in operator.
    actor: str = field(default_factory=lambda: f"cli:{_login_name()}")
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        from subscribers.db import make_engine, make_sessionmaker

        self.engine = make_engine(
            self.settings.database_url(), busy_timeout=self.settings.database.busy_timeout
        )
        self.sessions = make_sessionmaker(self.engine)

    @cached_property
    def taxonomy(self) -> Taxonomy:
        """The configured taxonomy, or the built-in one."""
        from mailer.topics import default_taxonomy, load_taxonomy

        configured = self.settings.topics.file
        return (
            load_taxonomy(self.settings.resolve(configured)) if configured else default_taxonomy()
        )

    @cached_property
    def renderer(self) -> Renderer:
        """The e-mail renderer (templates compiled once per process)."""
        from mailer.render import Renderer

        return Renderer(self.taxonomy)

    def migrate(self) -> None:
        """Bring the database to the newest schema."""
        from briefmail.migrate import upgrade

        upgrade(self.engine)

    def ensure_default_list(self) -> tuple[NewsletterList, bool]:
        """Create the list described by [newsletter] unless it exists; (list, created)."""
        from subscribers.lists import create_list, get_list

        cfg = self.settings.newsletter
        with self.sessions() as session:
            try:
                return get_list(session, cfg.slug), False
            except LookupError:
                created = create_list(session, cfg.slug, cfg.name, cfg.from_, cfg.list_id)
                session.commit()
                return created, True

    def transport(self, connections: int | None = None) -> Transport:
        """A fresh pool of SMTP connections to the configured relay (``connections`` or [smtp])."""
        from mailer.transport.smtp import DomainLimits, SmtpConfig, SmtpPool

        smtp = self.settings.smtp
        if not smtp.verify and smtp.security != "none":
            log.warning(_UNVERIFIED_RELAY)
        return SmtpPool(
            SmtpConfig(
                host=smtp.host,
                port=smtp.port,
                security=smtp.security,
                username=smtp.username,
                password=smtp.password.get_secret_value() if smtp.password else None,
                timeout=smtp.timeout,
                connections=connections or smtp.connections,
                rate=smtp.rate,
                validate_certs=smtp.verify,
                ca_file=str(self.settings.resolve(smtp.ca_file)) if smtp.ca_file else None,
                domains={
                    domain: DomainLimits(rate=limits.rate, connections=limits.connections)
                    for domain, limits in smtp.domains.items()
                },
            )
        )

    def warnings(self) -> list[str]:
        """What an operator must know about this configuration (shown by `briefmail status`)."""
        found = []
        smtp = self.settings.smtp
        if not smtp.verify and smtp.security != "none":
            found.append(_UNVERIFIED_RELAY)
        return found

    @cached_property
    def dkim(self) -> DkimSigner | None:
        """The DKIM signer [dkim] configures, or None; its domain must align with the sender."""
        from briefmail.settings import SettingsError
        from mailer.dkim import DkimError, DkimSigner
        from mailer.message import domain_of

        cfg = self.settings.dkim
        if not (cfg.domain and cfg.selector and cfg.key_file):
            return None
        sender_domain = domain_of(self.settings.newsletter.from_)
        if sender_domain != cfg.domain and not sender_domain.endswith("." + cfg.domain):
            raise SettingsError(
                f"dkim.domain: {cfg.domain!r} does not align with the From domain "
                f"{sender_domain!r}, so DMARC would fail"
            )
        try:
            return DkimSigner.from_file(
                cfg.domain, cfg.selector, self.settings.resolve(cfg.key_file)
            )
        except DkimError as exc:
            raise SettingsError(f"dkim.key_file: {exc}") from exc

    def dispatcher(self, *, signed: bool = True) -> Dispatcher:
        """The send path, wired to this database and renderer (unsigned: previews only)."""
        from scheduler.breaker import BreakerSettings
        from scheduler.dispatch import Dispatcher
        from subscribers.tokens import TokenSigner

        return Dispatcher(
            self.sessions,
            self.renderer,
            TokenSigner(self.settings.secret()) if signed else None,
            dkim=self.dkim if signed else None,
            signing=self.settings.dkim.signing,
            batch_size=self.settings.delivery.batch_size,
            lease_seconds=self.settings.delivery.lease_seconds,
            breaker=BreakerSettings(
                streak=self.settings.delivery.pause_after,
                ratio=self.settings.delivery.pause_ratio,
                window=self.settings.delivery.pause_window,
            ),
            base_url=self.settings.newsletter.base_url,
            postal_address=self.settings.newsletter.postal_address or None,
            language=self.settings.newsletter.language,
            brands=self.settings.brand,
            actor=self.actor,
        )

    async def resume_run(
        self,
        run_id: int,
        retry_for: float = 0.0,
        connections: int | None = None,
        *,
        handle_signals: bool = False,
        resend_unknown: bool = False,
    ) -> SendReport:
        """Send what a run still owes through a fresh transport (`sending.send` of a run)."""
        return await self.sending.send(
            run_id=run_id,
            retry_for=retry_for,
            connections=connections,
            handle_signals=handle_signals,
            resend_unknown=resend_unknown,
        )

    async def send_issue(self, issue_id: int, retry_for: float = 0.0) -> SendReport:
        """Plan and send an issue through a fresh transport (`sending.send` of an issue)."""
        return await self.sending.send(issue_id, retry_for=retry_for)

    @cached_property
    def sending(self) -> Sending:
        """Send, plan, test and steer runs; what the scheduler's jobs call."""
        from briefmail.services.sending import Sending

        return Sending(self)

    @cached_property
    def content(self) -> ContentService:
        """Lists, issues, digests, previews and topics."""
        from briefmail.services.content import ContentService

        return ContentService(self)

    @cached_property
    def revisions(self) -> RevisionService:
        """An editor's changes to stored issues: title, subject, topics, stories' places."""
        from briefmail.services.revisions import RevisionService

        return RevisionService(self)

    @cached_property
    def people(self) -> PeopleService:
        """Subscribers, consent, import/export and what is held about a person."""
        from briefmail.services.people import PeopleService

        return PeopleService(self)

    @cached_property
    def feedback(self) -> FeedbackService:
        """Bounces and complaints, read or applied."""
        from briefmail.services.feedback import FeedbackService

        return FeedbackService(self)

    @cached_property
    def sources(self) -> SourcesService:
        """Feeds and folders that issues arrive from: listed, checked, polled."""
        from briefmail.services.sources import SourcesService

        return SourcesService(self)

    @cached_property
    def operators(self) -> Operators:
        """The console's operators: added, signed in (argon2), their sessions and roles."""
        from briefmail.accounts.operators import Operators

        return Operators(self)

    @cached_property
    def tokens(self) -> Tokens:
        """The API's bearer tokens: created (shown once), verified, revoked."""
        from briefmail.accounts.tokens import Tokens

        return Tokens(self)

    @cached_property
    def audit(self) -> AuditLog:
        """Every operator action: who, when, what, before and after."""
        from briefmail.accounts.audit import AuditLog

        return AuditLog(self)

    @cached_property
    def webhooks(self) -> WebhooksService:
        """Events told to [[webhooks]] from the outbox: signed, retried, inspected."""
        from briefmail.services.webhooks import WebhooksService

        return WebhooksService(self)

    # Shortcuts the scheduler's jobs and older callers use; the services own the operations.

    def ingest(
        self,
        path: Path,
        list_slug: str,
        *,
        format: str = "auto",
        dry_run: bool = False,
        replace: bool = False,
        approve: bool = False,
    ) -> IngestResult:
        """Parse, tag and (unless dry_run) store an issue file on a list (`content.ingest`)."""
        return self.content.ingest(
            path, list_slug, format=format, dry_run=dry_run, replace=replace, approve=approve
        )

    def process_bounces(self, *paths: Path) -> BounceSummary:
        """Read bounces and complaints from these paths and apply them (`feedback`)."""
        return self.feedback.process_bounces(*paths)

    def parse_bounces(self, *paths: Path) -> tuple[list[ReadReport], list[str]]:
        """What each report says, changing nothing: (reports, unreadable paths' errors)."""
        parsed = self.feedback.parse_bounces(*paths)
        return parsed.reports, parsed.errors

    def subscriber_profile(self, email: str) -> dict[str, Any]:
        """A person's subscriptions, consent, deliveries and suppression (`people.profile`)."""
        return self.people.profile(email)

    def acting_as(self, actor: str) -> Briefmail:
        """This app acting for ``actor`` ("api:NAME", "console:EMAIL"): its own services.

        The engine, sessions, settings, taxonomy, renderer and DKIM signer are shared (built
        once per process); every service is built anew for the actor, so what it writes in
        issue histories and the audit log names who asked. A service added later is per-actor
        by default, which is the safe side. Closing the copy would close the shared engine:
        only the original is closed.
        """
        self.renderer  # noqa: B018 - built here (with the taxonomy) so every copy shares it
        clone = copy.copy(self)
        for name, value in vars(type(self)).items():
            if isinstance(value, cached_property) and name not in _SHARED:
                clone.__dict__.pop(name, None)
        clone.actor = actor
        return clone

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def build_app(settings: Settings) -> Briefmail:
    """Wire a Briefmail from settings. Nothing is opened until first use."""
    return Briefmail(settings)
