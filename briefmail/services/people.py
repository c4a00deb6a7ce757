"""People and consent: subscribe, confirm, unsubscribe, erase, import/export and profiles.

The rules (addresses, topics, zones, which status may follow which) are `subscribers.service`'s;
this service opens the session, finds the list (None: the configured default), commits, and
hands back plain results. A person's profile and data export are JSON documents by nature, so
they come back as dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from subscribers.adding import (
    AddressSuppressed,
    Difference,
    Wanted,
    apply_add,
    plan_add,
    refuse_suppressed,
)
from subscribers.directory import Page, Query, emails_of, search
from subscribers.lists import get_list
from subscribers.models import Cadence, Subscription, SubscriptionStatus
from subscribers.rules import (
    DEFAULT_SEND_HOUR,
    check_deliverable,
    check_timezone,
    parse_cadence,
    parse_send_hour,
    parse_topics,
)
from subscribers.service import (
    CLI,
    Context,
    NotSubscribed,
    confirm,
    erase,
    export_person,
    find_subscriber,
    list_subscriptions,
    normalise_email,
    set_preferences,
    subscribe,
    suppression_of,
    unsubscribe,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from briefmail.app import Briefmail
    from briefmail.services.confirmations import ConfirmationSent
    from subscribers.importer import ImportReport

__all__ = [
    "Added",
    "AddressSuppressed",
    "Difference",
    "Erased",
    "Exported",
    "Imported",
    "PeopleService",
    "SubscriptionView",
]


@dataclass(frozen=True, slots=True)
class Added:
    """What adding an address did: created, updated, or left as it was (and what differs)."""

    subscription: SubscriptionView
    #: created | updated | unchanged (asked for what is stored) | exists (differs; kept).
    outcome: str
    differences: tuple[Difference, ...] = ()
    #: The confirmation e-mail's fate; None when none was due (confirmed, kept, --no-email).
    confirmation: ConfirmationSent | None = None

    def as_json(self) -> dict[str, object]:
        """The subscription, the outcome, what differs and the confirmation's fate."""
        return {
            **self.subscription.as_json(),
            "outcome": self.outcome,
            "differences": [
                {"field": d.field, "before": d.before, "after": d.after} for d in self.differences
            ],
            "confirmation": self.confirmation.as_json() if self.confirmation else None,
        }


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """One person's subscription to a list, as the faces show it."""

    email: str
    list: str
    status: str
    cadence: str
    timezone: str
    send_hour: int
    #: Chosen topic ids; empty means every topic.
    topics: tuple[str, ...]

    @classmethod
    def of(cls, subscription: Subscription, list_slug: str) -> SubscriptionView:
        """The plain view of a stored subscription."""
        return cls(
            subscription.subscriber.email,
            list_slug,
            str(subscription.status),
            str(subscription.cadence),
            subscription.subscriber.timezone,
            subscription.send_hour,
            tuple(subscription.topics),
        )

    def as_json(self) -> dict[str, object]:
        """The `briefmail subscribers list --json` shape of one subscriber."""
        return {
            "email": self.email,
            "status": self.status,
            "cadence": self.cadence,
            "timezone": self.timezone,
            "topics": list(self.topics),
        }


@dataclass(frozen=True, slots=True)
class Erased:
    """An erasure: the address is suppressed either way; ``found`` says it was known."""

    email: str
    found: bool

    def as_json(self) -> dict[str, object]:
        """Address and whether anything was held about it."""
        return {"email": self.email, "found": self.found}


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import of a CSV file did (or, dry run, would do)."""

    path: Path
    report: ImportReport
    #: The confirmation e-mails sent to the pending rows (--send-confirmations), if asked.
    confirmations: tuple[ConfirmationSent, ...] = ()

    def as_json(self) -> dict[str, object]:
        """The counts of the import."""
        r = self.report
        return {
            "pending": len(r.pending),
            "confirmations": [c.as_json() for c in self.confirmations],
            "path": str(self.path),
            "dry_run": r.dry_run,
            "rows": r.rows,
            "created": r.created,
            "updated": r.updated,
            "unchanged": r.unchanged,
            "skipped_suppressed": r.skipped_suppressed,
            "suppressed_lines": list(r.suppressed_lines),
        }


@dataclass(frozen=True, slots=True)
class Exported:
    """A list written as CSV."""

    path: Path
    rows: int

    def as_json(self) -> dict[str, object]:
        """Where, and how many subscribers."""
        return {"path": str(self.path), "rows": self.rows}


class PeopleService:
    """Subscribers of the lists and what is held about each person."""

    def __init__(self, app: Briefmail) -> None:
        self.app = app

    def list_slug(self, slug: str | None) -> str:
        """The list an operation works on: the one named, else the configured default."""
        return slug or self.app.settings.newsletter.slug

    def subscribe(
        self,
        email: str,
        list_slug: str | None = None,
        *,
        topics: Sequence[str] = (),
        cadence: Cadence | str = Cadence.DAILY,
        timezone: str = "UTC",
        confirmed: bool = False,
        context: Context = CLI,
    ) -> SubscriptionView:
        """Subscribe an address (pending until the person confirms, unless ``confirmed``).

        ``cadence`` may be given as typed ("Weekly"); the shared rule parses it.
        """
        slug = self.list_slug(list_slug)
        with self.app.sessions() as session:
            subscription = subscribe(
                session,
                get_list(session, slug),
                email,
                taxonomy=self.app.taxonomy,
                topics=topics,
                cadence=parse_cadence(cadence),
                timezone=timezone,
                confirmed=confirmed,
                context=context,
                smtputf8=self.app.settings.smtp.smtputf8,
            )
            session.commit()
            return SubscriptionView.of(subscription, slug)

    def add(
        self,
        email: str,
        list_slug: str | None = None,
        *,
        topics: Sequence[str] = (),
        cadence: Cadence | str = Cadence.DAILY,
        timezone: str = "UTC",
        send_hour: int = DEFAULT_SEND_HOUR,
        confirmed: bool = False,
        send_email: bool = True,
        update: bool = False,
        actor: str | None = None,
        context: Context = CLI,
    ) -> Added:
        """An operator adds an address: what `subscribers add`, the console and the API do.

        A suppressed or erased address is refused (AddressSuppressed, with its evidence). An
        address already on the list changes nothing unless ``update``; either way the result
        lists what differs. A new pending subscription gets the confirmation e-mail unless
        ``send_email`` is false. Every field is checked before anything is looked up.
        """
        slug = self.list_slug(list_slug)
        wanted = Wanted(
            self._address(email),
            parse_topics(topics, self.app.taxonomy),
            parse_cadence(cadence),
            check_timezone(timezone),
            parse_send_hour(send_hour),
            confirmed,
        )
        with self.app.sessions() as session:
            newsletter = get_list(session, slug)
            plan = plan_add(session, newsletter, wanted)
            current = plan.current
            if current is not None and not plan.differences:
                return Added(SubscriptionView.of(current, slug), "unchanged")
            if current is not None and not update:
                return Added(SubscriptionView.of(current, slug), "exists", plan.differences)
            was = current.status if current is not None else None
            subscription = apply_add(
                session,
                newsletter,
                wanted,
                plan,
                update=update,
                taxonomy=self.app.taxonomy,
                context=context,
                smtputf8=self.app.settings.smtp.smtputf8,
            )
            if actor is not None:
                verb = "subscriber.added" if current is None else "subscriber.updated"
                self._audit(session, actor, verb, subscription, None, slug)
            session.commit()
            confirmation = None
            if send_email and SubscriptionStatus.PENDING == subscription.status != was:
                confirmation = self._send(session, [subscription], actor)[0]
            view = SubscriptionView.of(subscription, slug)
        outcome = "created" if current is None else "updated"
        return Added(view, outcome, plan.differences, confirmation)

    def confirm_for(
        self, email: str, list_slug: str | None = None, *, actor: str | None = None
    ) -> tuple[SubscriptionView, bool]:
        """An operator records a person's confirmation (by reply, on paper); (view, changed).

        A suppressed address is refused: only the person's own confirmation lifts that.
        """
        slug = self.list_slug(list_slug)
        with self.app.sessions() as session:
            refuse_suppressed(session, email)
            subscription = self._subscription(session, email, slug)
            changed = confirm(session, subscription, CLI)
            if changed:
                from briefmail.accounts.audit import write

                write(
                    session,
                    actor or self.app.actor,
                    "subscriber.confirmed",
                    f"subscriber:{subscription.subscriber_id}",
                    before={"status": "pending"},
                    after={"status": "confirmed", "list": slug},
                )
            session.commit()
            return SubscriptionView.of(subscription, slug), changed

    def resend_confirmation(
        self,
        emails: Sequence[str] = (),
        list_slug: str | None = None,
        *,
        pending: bool = False,
        actor: str | None = None,
    ) -> list[ConfirmationSent]:
        """Send the confirmation again to these addresses (or, ``pending``, to every pending one).

        At most one an hour per address; the skipped ones say why. NotSubscribed names an
        address that has no subscription on the list.
        """
        slug = self.list_slug(list_slug)
        with self.app.sessions() as session:
            newsletter = get_list(session, slug)
            targets = [self._subscription(session, email, slug) for email in emails]
            if pending:
                named = {s.id for s in targets}
                targets += [
                    s
                    for s in list_subscriptions(session, newsletter)
                    if s.status == SubscriptionStatus.PENDING and s.id not in named
                ]
            results = self._send(session, targets, actor)
            session.commit()
            return results

    def _address(self, email: str) -> str:
        """The address normalised and checked as every subscribe is (InvalidAddress)."""
        return check_deliverable(normalise_email(email), smtputf8=self.app.settings.smtp.smtputf8)

    def _send(
        self, session: Session, subscriptions: Sequence[Subscription], actor: str | None
    ) -> list[ConfirmationSent]:
        """Mail the confirmations (rate-limited), their audit entries written in ``session``."""
        from briefmail.services.confirmations import send_confirmations

        results = send_confirmations(
            self.app, subscriptions, session, actor=actor or self.app.actor
        )
        session.commit()
        return results

    def confirm(
        self, email: str, list_slug: str | None = None, *, context: Context
    ) -> tuple[SubscriptionView, bool]:
        """Record the person's own confirmation of a pending subscription; (view, changed).

        ``context`` says where the person confirmed (the consent record needs it); a
        subscription that was not pending is returned unchanged. NotSubscribed if none.
        """
        slug = self.list_slug(list_slug)
        with self.app.sessions() as session:
            subscription = self._subscription(session, email, slug)
            changed = confirm(session, subscription, context)
            session.commit()
            return SubscriptionView.of(subscription, slug), changed

    def change_preferences(
        self,
        email: str,
        list_slug: str | None = None,
        *,
        topics: Sequence[str] | None = None,
        cadence: Cadence | str | None = None,
        timezone: str | None = None,
        send_hour: int | None = None,
        context: Context = CLI,
        actor: str | None = None,
        ip: str | None = None,
    ) -> SubscriptionView:
        """Change what a reader gets (a field left None keeps its value), as one consent event.

        ``actor`` writes before → after to the audit log, by subscriber id, in the same
        transaction; a refused value (an unknown topic, a bad zone) changes nothing.
        """
        slug = self.list_slug(list_slug)
        with self.app.sessions() as session:
            subscription = self._subscription(session, email, slug)
            before = _preferences(subscription)
            set_preferences(
                session,
                subscription,
                taxonomy=self.app.taxonomy,
                topics=subscription.topics if topics is None else topics,
                cadence=subscription.cadence if cadence is None else parse_cadence(cadence),
                timezone=timezone or subscription.subscriber.timezone,
                send_hour=subscription.send_hour if send_hour is None else send_hour,
                context=context,
            )
            if actor is not None:
                from briefmail.accounts.audit import write

                target = f"subscriber:{subscription.subscriber_id}"
                after = _preferences(subscription)
                write(
                    session,
                    actor,
                    "subscriber.preferences",
                    target,
                    before=before,
                    after=after,
                    ip=ip,
                )
            session.commit()
            return SubscriptionView.of(subscription, slug)

    def unsubscribe(
        self,
        email: str,
        list_slug: str | None = None,
        *,
        context: Context = CLI,
        actor: str | None = None,
        ip: str | None = None,
    ) -> SubscriptionView:
        """Unsubscribe an address from a list (its consent history is kept).

        ``actor`` (an operator) writes the change to the audit log in the same transaction.
        """
        slug = self.list_slug(list_slug)
        with self.app.sessions() as session:
            subscription = unsubscribe(session, get_list(session, slug), email, context)
            if actor is not None:
                self._audit(session, actor, "subscriber.unsubscribed", subscription, ip, slug)
            session.commit()
            return SubscriptionView.of(subscription, slug)

    def erase(self, email: str, *, actor: str | None = None, ip: str | None = None) -> Erased:
        """Erase everything about a person (GDPR Art. 17); only a suppression hash remains.

        ``actor`` writes the erasure to the audit log (by subscriber id: never the address).
        """
        with self.app.sessions() as session:
            person = find_subscriber(session, email)
            found = erase(session, email)
            if actor is not None:
                from briefmail.accounts.audit import write

                target = f"subscriber:{person.id}" if person is not None else None
                write(session, actor, "subscriber.erased", target, ip=ip)
            session.commit()
        return Erased(email, found)

    def search(self, query: Query, list_slug: str | None = None) -> Page:
        """A keyset page of a list's subscriptions (substring, status, topic, cadence)."""
        with self.app.sessions() as session:
            newsletter = get_list(session, self.list_slug(list_slug))
            return search(session, dataclasses.replace(query, list_id=newsletter.id))

    def email_of(self, subscriber_id: int) -> str:
        """The address of a subscriber id; NotSubscribed if there is none."""
        with self.app.sessions() as session:
            found = emails_of(session, [subscriber_id]).get(subscriber_id)
        if found is None:
            raise NotSubscribed(f"there is no subscriber {subscriber_id}")
        return found

    @staticmethod
    def _audit(
        session: Session,
        actor: str,
        action: str,
        subscription: Subscription,
        ip: str | None,
        slug: str,
    ) -> None:
        """An operator's change to a subscription, in the audit log (by id, not address)."""
        from briefmail.accounts.audit import write

        target = f"subscriber:{subscription.subscriber_id}"
        write(
            session,
            actor,
            action,
            target,
            after={"list": slug, "status": str(subscription.status)},
            ip=ip,
        )

    def subscribers(self, list_slug: str | None = None) -> list[SubscriptionView]:
        """Every subscription of a list, by address."""
        slug = self.list_slug(list_slug)
        with self.app.sessions() as session:
            return [
                SubscriptionView.of(s, slug)
                for s in list_subscriptions(session, get_list(session, slug))
            ]

    def import_csv(
        self,
        path: Path,
        list_slug: str | None = None,
        *,
        dry_run: bool = False,
        progress: Callable[[int, int], None] | None = None,
        send_confirmations: bool = False,
        actor: str | None = None,
    ) -> Imported:
        """Import subscribers from CSV: every row or none (ImportFailed names the bad lines).

        ``send_confirmations`` mails the rows left pending their confirmation (at most one an
        hour per address), once the import is committed.
        """
        from subscribers.importer import import_csv

        with self.app.sessions() as session:
            report = import_csv(
                session,
                get_list(session, self.list_slug(list_slug)),
                path,
                taxonomy=self.app.taxonomy,
                dry_run=dry_run,
                progress=progress,
                smtputf8=self.app.settings.smtp.smtputf8,
            )
            if not dry_run:
                session.commit()
        sent: list[ConfirmationSent] = []
        if send_confirmations and not dry_run and report.pending:
            sent = self.resend_confirmation(report.pending, list_slug, actor=actor)
        return Imported(Path(path), report, tuple(sent))

    def export_csv(self, path: Path, list_slug: str | None = None) -> Exported:
        """Write a list's subscribers as CSV (it imports back unchanged)."""
        from subscribers.importer import export_csv

        with self.app.sessions() as session:
            rows = export_csv(session, get_list(session, self.list_slug(list_slug)), path)
        return Exported(Path(path), rows)

    def export_data(self, email: str) -> dict[str, Any]:
        """Everything held about one person (GDPR Art. 15/20); NotSubscribed if unknown."""
        with self.app.sessions() as session:
            return export_person(session, email)

    def profile(self, email: str) -> dict[str, Any]:
        """A person's data export plus their suppression's evidence and last deliveries."""
        from scheduler.feedback import delivery_history

        with self.app.sessions() as session:
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

    @staticmethod
    def _subscription(session: Session, email: str, slug: str) -> Subscription:
        """The address's subscription to the list; NotSubscribed if it has none."""
        newsletter = get_list(session, slug)
        subscriber = find_subscriber(session, email)
        mine = subscriber.subscriptions if subscriber is not None else []
        found = next((s for s in mine if s.list_id == newsletter.id), None)
        if found is None:
            raise NotSubscribed(f"{normalise_email(email)} is not subscribed to {slug!r}")
        return found


def _preferences(subscription: Subscription) -> dict[str, object]:
    """What a reader chose, as the audit log keeps it (no address: it outlives an erasure)."""
    return {
        "topics": list(subscription.topics),
        "cadence": str(subscription.cadence),
        "timezone": subscription.subscriber.timezone,
        "send_hour": subscription.send_hour,
    }
