"""The composition root: the one place where engine, transport, renderer and signer meet.

Everything else receives what it needs; only this module reads settings to decide *which*
database, relay, taxonomy and templates a running briefmail uses.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from briefmail.migrate import upgrade
from briefmail.settings import Settings, SettingsError
from mailer.bounces import BounceError, parse_report, read_messages
from mailer.content import Issue
from mailer.dkim import DkimError, DkimSigner
from mailer.ingest import Detection, read_issue
from mailer.message import domain_of
from mailer.render import Renderer
from mailer.topics import Taxonomy, default_taxonomy, load_taxonomy
from mailer.transport import Transport
from mailer.transport.smtp import DomainLimits, SmtpConfig, SmtpPool
from scheduler.breaker import BreakerSettings
from scheduler.dispatch import (
    BOUNCE_PREFIX,
    Dispatcher,
    SendReport,
    stop_on_signals,
)
from scheduler.editions import Stored, StoredIssue, store_issue, tag_ingested
from scheduler.feedback import (
    BounceSummary,
    ReadReport,
    apply_events,
    delivery_history,
    read_events,
)
from scheduler.ledger import WHOLE
from scheduler.shares import Share
from subscribers.db import make_engine, make_sessionmaker
from subscribers.lists import create_list, get_list
from subscribers.models import NewsletterList
from subscribers.service import export_person, find_subscriber, suppression_of
from subscribers.tokens import TokenSigner

log = logging.getLogger("briefmail")
_UNVERIFIED_RELAY = (
    "smtp.verify is false: the relay's TLS certificate is NOT checked, so anyone on the path "
    "can read and change every message; trust its CA with smtp.ca_file instead"
)

__all__ = ["Briefmail", "IngestResult", "build_app"]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """An ingested issue: the parsed content, how its format was chosen, and the stored row."""

    issue: Issue
    detection: Detection
    stored: StoredIssue | None
    #: What storing did; None for a dry run.
    outcome: Stored | None


@dataclass
class Briefmail:
    """A configured briefmail: database, taxonomy, renderer and a transport factory."""

    settings: Settings
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(
            self.settings.database_url(), busy_timeout=self.settings.database.busy_timeout
        )
        self.sessions = make_sessionmaker(self.engine)

    @cached_property
    def taxonomy(self) -> Taxonomy:
        """The configured taxonomy, or the built-in one."""
        configured = self.settings.topics.file
        return (
            load_taxonomy(self.settings.resolve(configured)) if configured else default_taxonomy()
        )

    @cached_property
    def renderer(self) -> Renderer:
        """The e-mail renderer (templates compiled once per process)."""
        return Renderer(self.taxonomy)

    def migrate(self) -> None:
        """Bring the database to the newest schema."""
        upgrade(self.engine)

    def ensure_default_list(self) -> tuple[NewsletterList, bool]:
        """Create the list described by [newsletter] unless it exists; (list, created)."""
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
        return Dispatcher(
            self.sessions,
            self.renderer,
            TokenSigner(self.settings.secret()) if signed else None,
            dkim=self.dkim if signed else None,
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
        )

    async def resume_run(
        self,
        run_id: int,
        retry_for: float = 0.0,
        share: Share = WHOLE,
        connections: int | None = None,
        *,
        handle_signals: bool = False,
        resend_unknown: bool = False,
    ) -> SendReport:
        """Send what a run (or one share of it) still owes through a fresh transport.

        With ``handle_signals`` (a command in a terminal), Ctrl-C or SIGTERM stops the send
        cleanly: what is in flight is answered and recorded, and the report says it stopped.
        """
        transport = self.transport(connections)
        dispatcher = self.dispatcher()
        try:
            with stop_on_signals(dispatcher) if handle_signals else nullcontext():
                return await dispatcher.resume(
                    run_id,
                    transport,
                    retry_for=retry_for,
                    share=share,
                    resend_unknown=resend_unknown,
                )
        finally:
            await transport.close()

    async def send_issue(self, issue_id: int, retry_for: float = 0.0) -> SendReport:
        """Send an issue through a fresh transport to the configured relay, then close it."""
        transport = self.transport()
        try:
            return await self.dispatcher().send(issue_id, transport, retry_for=retry_for)
        finally:
            await transport.close()

    def process_bounces(self, *paths: Path) -> BounceSummary:
        """Read bounces and complaints from maildirs, mboxes or .eml files and apply them.

        A path that cannot be read is named in the summary's errors; the others still count.
        """
        signer = TokenSigner(self.settings.secret())
        summary = BounceSummary()
        for path in paths:
            try:
                for source, data in read_messages(path):
                    events = parse_report(data, source=source, verp_prefix=BOUNCE_PREFIX)
                    summary.reports += 1
                    with self.sessions() as session:
                        apply_events(
                            session,
                            events,
                            signer,
                            summary,
                            soft_limit=self.settings.bounces.soft_limit,
                            soft_window_days=self.settings.bounces.soft_window_days,
                        )
                        session.commit()  # one report, one transaction: a crash loses none
            except BounceError as exc:
                summary.errors.append(str(exc))
        return summary

    def parse_bounces(self, *paths: Path) -> tuple[list[ReadReport], list[str]]:
        """What each report in these paths says, matched to deliveries, changing nothing.

        Returns the reports and the errors ("path: reason") of paths that could not be read.
        """
        signer = TokenSigner(self.settings.secret())
        reports: list[ReadReport] = []
        errors: list[str] = []
        with self.sessions() as session:
            for path in paths:
                try:
                    for source, data in read_messages(path):
                        events = parse_report(data, source=source, verp_prefix=BOUNCE_PREFIX)
                        reports.append(read_events(session, source, events, signer))
                except BounceError as exc:
                    errors.append(str(exc))
        return reports, errors

    def subscriber_profile(self, email: str) -> dict[str, Any]:
        """A person's subscriptions, consent events, last deliveries and suppression evidence."""
        with self.sessions() as session:
            profile = export_person(session, email)
            subscriber = find_subscriber(session, email)
            suppression = suppression_of(session, email)
            assert subscriber is not None  # export_person raised NotSubscribed otherwise
            profile["suppression"] = (
                {
                    "reason": suppression.reason,
                    "since": suppression.created_at.isoformat(),
                    "report_id": suppression.report_id,
                    "diagnostic": suppression.diagnostic,
                }
                if suppression is not None
                else None
            )
            profile["deliveries"] = delivery_history(session, subscriber.id)
            return profile

    def ingest(
        self,
        path: Path,
        list_slug: str,
        *,
        format: str = "auto",
        dry_run: bool = False,
        replace: bool = False,
    ) -> IngestResult:
        """Parse, tag and (unless dry_run) store an issue file on a list, all or nothing."""
        parsed, detection = read_issue(path, format)
        issue = tag_ingested(parsed, self.taxonomy, from_json=detection.format == "json", path=path)
        if dry_run:
            return IngestResult(issue, detection, None, None)
        with self.sessions() as session:
            newsletter = get_list(session, list_slug)
            stored, outcome = store_issue(
                session, newsletter, issue, source_name=Path(path).name, replace_sent=replace
            )
            session.commit()
            return IngestResult(issue, detection, stored, outcome)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def build_app(settings: Settings) -> Briefmail:
    """Wire a Briefmail from settings. Nothing is opened until first use."""
    return Briefmail(settings)
