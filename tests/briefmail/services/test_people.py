"""The people service: subscribe, confirm, unsubscribe, erase, import/export and profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from briefmail.app import Briefmail
from briefmail.services.people import AddressSuppressed
from mailer.testing import SmtpSink
from subscribers.importer import ImportFailed
from subscribers.models import Cadence, ConsentSource
from subscribers.rules import InvalidCadence
from subscribers.service import Context, InvalidAddress, NotSubscribed

WEB = Context(source=ConsentSource.WEB)


class TestSubscribe:
    def test_a_new_address_is_pending_with_its_choices(self, app: Briefmail) -> None:
        """Without the operator's consent a subscription waits, keeping topics, cadence and zone."""
        view = app.people.subscribe(
            "Reader@Example.NET",
            topics=["policy", "chips"],
            cadence=Cadence.WEEKLY,
            timezone="Europe/Berlin",
        )
        assert view.as_json() == {
            "email": "Reader@example.net",
            "status": "pending",
            "cadence": "weekly",
            "timezone": "Europe/Berlin",
            "topics": ["chips", "policy"],
        }
        assert view.list == app.settings.newsletter.slug
        assert app.people.subscribers() == [view]

    def test_a_cadence_as_typed_is_parsed_by_the_shared_rule(self, app: Briefmail) -> None:
        """A cadence as typed (" Weekly") is weekly; "monthly" is refused, naming the choices."""
        assert app.people.subscribe("a@example.net", cadence=" Weekly").cadence == "weekly"
        with pytest.raises(InvalidCadence, match="use daily or weekly"):
            app.people.subscribe("b@example.net", cadence="monthly")

    def test_the_operators_consent_confirms_at_once(self, app: Briefmail) -> None:
        """``confirmed`` (the operator holds the consent) makes the subscription count now."""
        assert app.people.subscribe("a@example.net", confirmed=True).status == "confirmed"

    def test_a_bad_address_is_refused_and_nothing_is_stored(self, app: Briefmail) -> None:
        """An invalid address raises InvalidAddress naming it; the list stays empty."""
        with pytest.raises(InvalidAddress, match="nobody.example.net"):
            app.people.subscribe("nobody.example.net")
        assert app.people.subscribers() == []


class TestConfirmAndLeave:
    def test_the_persons_confirmation_counts_once(self, app: Briefmail) -> None:
        """confirm() turns pending into confirmed; a second confirm changes nothing."""
        app.people.subscribe("a@example.net")
        view, changed = app.people.confirm("a@example.net", context=WEB)
        again, changed_again = app.people.confirm("A@example.net", context=WEB)
        assert (view.status, changed) == ("confirmed", True)
        assert (again.status, changed_again) == ("confirmed", False)
        events = app.people.export_data("a@example.net")["consent_events"]
        assert [(e["action"], e["source"]) for e in events][-1] == ("confirm", "web")

    def test_an_address_without_a_subscription_cannot_confirm(self, app: Briefmail) -> None:
        """Confirming an unknown address raises NotSubscribed naming it and the list."""
        with pytest.raises(NotSubscribed, match=r"b@example\.net is not subscribed to 'brief'"):
            app.people.confirm("b@example.net", context=WEB)

    def test_unsubscribe_keeps_the_subscription_on_record(self, app: Briefmail) -> None:
        """An unsubscribed reader stays listed as unsubscribed; an unknown one is NotSubscribed."""
        app.people.subscribe("a@example.net", confirmed=True)
        assert app.people.unsubscribe("a@example.net").status == "unsubscribed"
        assert [v.status for v in app.people.subscribers()] == ["unsubscribed"]
        with pytest.raises(NotSubscribed):
            app.people.unsubscribe("b@example.net")


class TestPersonalData:
    def test_erase_leaves_nothing_to_show(self, app: Briefmail) -> None:
        """After erase() the person has no profile; erasing an unknown address says so."""
        app.people.subscribe("a@example.net", confirmed=True)
        profile = app.people.profile("a@example.net")
        assert (profile["suppression"], profile["deliveries"]) == (None, [])
        assert app.people.erase("a@example.net").found is True
        with pytest.raises(NotSubscribed):
            app.people.profile("a@example.net")
        assert app.people.erase("b@example.net").as_json() == {
            "email": "b@example.net",
            "found": False,
        }

    def test_export_imports_back_unchanged(self, app: Briefmail, tmp_path: Path) -> None:
        """A list exported as CSV imports into another list with every row new, then unchanged."""
        app.people.subscribe("a@example.net", topics=["chips"], confirmed=True)
        app.people.subscribe("b@example.net", cadence=Cadence.WEEKLY, confirmed=True)
        exported = app.people.export_csv(tmp_path / "out.csv")
        assert exported.rows == 2
        app.content.add_list("copy", "Copy")
        first = app.people.import_csv(exported.path, "copy")
        again = app.people.import_csv(exported.path, "copy")
        assert (first.report.created, again.report.unchanged) == (2, 2)
        original = [v.as_json() for v in app.people.subscribers()]
        assert [v.as_json() for v in app.people.subscribers("copy")] == original

    def test_an_import_with_a_bad_row_writes_nothing(self, app: Briefmail, tmp_path: Path) -> None:
        """One bad line refuses the whole file (ImportFailed names it); a dry run writes nothing."""
        source = tmp_path / "in.csv"
        source.write_text("email\na@example.net\nnot-an-address\n", encoding="utf-8")
        with pytest.raises(ImportFailed, match="line 3"):
            app.people.import_csv(source)
        source.write_text("email\na@example.net\n", encoding="utf-8")
        dry = app.people.import_csv(source, dry_run=True)
        assert (dry.as_json()["dry_run"], dry.report.created) == (True, 1)
        assert app.people.subscribers() == []


class TestAdd:
    """`app.people.add`: what `subscribers add`, the console and the API call."""

    def test_a_pending_add_mails_the_confirmation_once_an_hour(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """A new pending address gets the form's confirmation; a resend within the hour is not."""
        added = app.people.add("a@example.net", topics=["chips"], actor="api:cms")
        assert added.outcome == "created" and added.subscription.status == "pending"
        assert added.confirmation is not None and added.confirmation.sent
        [message] = smtp_sink.messages
        assert message.parsed()["Subject"] == "Confirm your subscription to Test Brief"
        [again] = app.people.resend_confirmation(["a@example.net"], actor="api:cms")
        assert not again.sent and again.skipped is not None and "an hour" in again.skipped
        assert len(smtp_sink.messages) == 1
        [entry] = app.audit.entries(actor="api:cms", action="subscriber.confirmation_sent")
        assert entry.target is not None and entry.target.startswith("subscriber:")

    def test_an_existing_address_changes_only_with_update(self, app: Briefmail) -> None:
        """A re-add names what differs and keeps the stored reader; update applies it."""
        app.people.add("a@example.net", confirmed=True, timezone="Europe/London", topics=["chips"])
        kept = app.people.add("a@example.net", confirmed=True)
        assert kept.outcome == "exists"
        assert [str(d) for d in kept.differences] == [
            "timezone Europe/London → UTC",
            "topics chips → all",
        ]
        assert app.people.subscribers()[0].timezone == "Europe/London"
        updated = app.people.add("a@example.net", confirmed=True, update=True)
        assert updated.outcome == "updated" and updated.subscription.timezone == "UTC"
        assert app.people.add("a@example.net", confirmed=True).outcome == "unchanged"

    def test_a_suppressed_address_is_refused_with_its_evidence(self, app: Briefmail) -> None:
        """Adding a bounced address raises AddressSuppressed naming the reason and evidence."""
        from subscribers.service import suppress

        with app.sessions() as session:
            suppress(session, "a@example.net", "hard bounce", diagnostic="550 5.1.1 unknown")
            session.commit()
        with pytest.raises(AddressSuppressed, match=r"hard bounce since .*550 5\.1\.1 unknown"):
            app.people.add("a@example.net", confirmed=True)
        assert app.people.subscribers() == []
