"""Refusals against a real SMTP server: whose fault each is, one reader fails alone, the truth.

Only a missing mailbox suppresses an address; our side's refusals keep deliveries owed and
pause the run; an address that cannot go on the wire fails alone; a message with no final reply
is uncertain, never deferred.
"""

from __future__ import annotations

import pytest

from briefmail.app import Briefmail
from mailer.testing import SmtpSink
from scheduler import ledger
from scheduler.ledger import Delivery, DeliveryStatus, RunStatus
from tests.conftest import subscribe_readers
from tests.scheduler.test_dispatch import add, ingest, send, suppressions

SENDER_REFUSED = (
    550,
    "5.1.0 <bounces@news.example.org>: Sender address rejected: User unknown in local "
    "recipient table",
)
BLOCKLISTED = (
    554,
    "5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org",
)


def reasons(app: Briefmail) -> dict[str, tuple[str, str | None]]:
    from subscribers.models import Subscriber

    with app.sessions() as session:
        rows = session.query(Delivery, Subscriber.email).join(
            Subscriber, Subscriber.id == Delivery.subscriber_id
        )
        return {email: (str(d.status), d.last_reason) for d, email in rows}


class TestWhoseFault:
    @pytest.mark.parametrize(
        "faults",
        [
            pytest.param({"refuse_senders": {"*": SENDER_REFUSED}}, id="at MAIL FROM"),
            # Postfix with smtpd_delay_reject refuses the sender only at RCPT TO.
            pytest.param({"refuse_all": SENDER_REFUSED}, id="at RCPT TO"),
        ],
    )
    async def test_a_refused_sender_suppresses_nobody_and_pauses_the_run(
        self, app: Briefmail, smtp_sink: SmtpSink, faults: dict[str, object]
    ) -> None:
        """A refused sender fails and suppresses nobody and pauses the run; resumed, all get one.

        Resuming once the relay is fixed delivers every reader exactly once.
        """
        from mailer.testing import Faults

        readers = [f"r{n:02d}@example.net" for n in range(40)]
        for email in readers:
            add(app, email, ["chips"])
        issue_id = ingest(app)
        port = smtp_sink.port
        smtp_sink.stop()  # replaced by a relay with these faults, then by a fixed one
        with SmtpSink(port=port, faults=Faults(**faults)):  # type: ignore[arg-type]
            report = await send(app, issue_id)
        assert report["stopped"] is not None
        assert str(report["stopped"]).startswith(
            "the relay refuses the envelope sender: 550 5.1.0 <bounces@news.example.org>"
        )
        assert str(report["stopped"]).endswith(
            f"run {report['run_id']} paused; fix the relay or the sender and "
            f"`briefmail runs resume {report['run_id']}`"
        )
        assert (report["delivered"], report["failed"], suppressions(app)) == (0, 0, 0)
        with app.sessions() as session:
            run = ledger.get_run(session, int(str(report["run_id"])))
            assert (run.status, run.pause_reason) == (RunStatus.PAUSED, report["stopped"])
        attempted = [why for status, why in reasons(app).values() if status == "deferred"]
        assert attempted and set(attempted) == {"sender"}
        with app.sessions() as session:
            ledger.set_run_status(session, ledger.get_run(session, run.id), RunStatus.SENDING)
            session.commit()
        with SmtpSink(port=port) as fixed:
            resumed = await app.resume_run(run.id)
        assert sorted(fixed.recipients()) == readers
        assert (resumed.delivered, resumed.stopped, suppressions(app)) == (40, None, 0)

    @pytest.mark.smtp_faults(refuse_all=BLOCKLISTED)
    async def test_a_blocklisted_ip_suppresses_nobody_and_pauses_the_run(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """Every RCPT refused with a blocklist 554 5.7.1: zero suppressions, a paused run."""
        for n in range(40):
            add(app, f"r{n:02d}@example.net", ["chips"])
        report = await app.send_issue(ingest(app))
        assert report.interrupted
        assert report.stopped is not None
        assert report.stopped.startswith(
            "receiving servers refuse us on policy (blocklist, reputation or authentication): "
            "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus"
        )
        assert (report.failed, suppressions(app)) == (0, 0)
        assert report.delivered + report.deferred + report.pending == 40

    @pytest.mark.smtp_faults(
        refuse={
            "gone@example.net": (550, "5.1.1 <gone@example.net>: Recipient address rejected"),
            "full@example.net": (552, "5.2.2 Mailbox full"),
            "policy@example.net": (550, "5.7.1 Message refused by local policy"),
            "plain@example.net": (550, "Requested action not taken: mailbox unavailable"),
        }
    )
    async def test_only_a_missing_mailbox_suppresses(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """5.1.1 and a bare 550 fail and suppress; a full mailbox fails alone; policy is owed."""
        for email in ("ok", "gone", "full", "policy", "plain"):
            add(app, f"{email}@example.net", ["chips"])
        report = await send(app, ingest(app))
        assert report["stopped"] is None  # one refusal of ours is no reason to pause
        assert reasons(app) == {
            "ok@example.net": ("delivered", None),
            "gone@example.net": ("failed", "gone"),
            "full@example.net": ("failed", "full"),
            "policy@example.net": ("deferred", "policy"),
            "plain@example.net": ("failed", "gone"),
        }
        assert suppressions(app) == 2

    @pytest.mark.smtp_faults(refuse_data=(554, "Message rejected as spam"))
    async def test_a_content_filter_pauses_the_run_after_ten_refusals(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """Refusals after the data count as ours: ten of them pause the run, nobody is lost."""
        for n in range(60):
            add(app, f"r{n:02d}@example.net", ["chips"])
        report = await app.send_issue(ingest(app))
        assert report.stopped is not None
        assert report.stopped.startswith("receiving servers refuse the message's content")
        counts = reasons(app)
        assert {why for _, why in counts.values()} <= {"content", None}
        assert 10 <= sum(1 for _, why in counts.values() if why == "content") < 60
        assert (report.failed, suppressions(app)) == (0, 0)

    @pytest.mark.smtp_faults(greeting=(554, "5.7.1 mx.example.org: not allowed to relay"))
    async def test_a_relay_that_turns_us_away_pauses_the_run(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """A 554 greeting is the connection's fault: the run pauses with the relay's words."""
        for n in range(5):
            add(app, f"r{n}@example.net", ["chips"])
        report = await app.send_issue(ingest(app))
        assert report.stopped is not None
        assert report.stopped.startswith("the relay refuses the connection: 554 ")
        assert "not allowed to relay" in report.stopped
        assert (report.delivered, report.failed, report.pending, suppressions(app)) == (0, 0, 5, 0)

    @pytest.mark.smtp_faults(
        refuse_domains={
            "outlook.example": (451, "4.7.650 The mail server has been temporarily rate limited")
        }
    )
    async def test_a_throttling_domain_defers_only_its_readers(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """A rate-limiting provider's readers are deferred; everyone else is delivered."""
        for n in range(20):
            add(app, f"r{n:02d}@outlook.example", ["chips"])
        for n in range(20):
            add(app, f"r{n:02d}@example.net", ["chips"])
        report = await send(app, ingest(app))
        assert (report["delivered"], report["deferred"], report["stopped"]) == (20, 20, None)
        assert all(r.endswith("@example.net") for r in smtp_sink.recipients())
        # The domain rested after its first refusals: most of its readers never reached it.
        assert len(smtp_sink.refusals) <= app.settings.smtp.connections
        assert suppressions(app) == 0


class TestOneReaderFailsAlone:
    async def test_a_poisoned_address_fails_alone_among_a_thousand(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """One address that cannot go on the wire fails with its reason; 999 are delivered."""
        from sqlalchemy import update

        from subscribers.models import Subscriber

        readers = [f"r{n:04d}@example.net" for n in range(1000)]
        for email in readers:
            add(app, email, ["chips"])
        with app.sessions() as session:
            # A row no form lets in today, as an older version or a hand-edited import left it.
            session.execute(
                update(Subscriber)
                .where(Subscriber.email == "r0500@example.net")
                .values(email="r0500@☃.example")
            )
            session.commit()
        report = await send(app, ingest(app))
        assert (report["delivered"], report["failed"], report["stopped"]) == (999, 1, None)
        assert len(smtp_sink.recipients()) == 999
        poisoned = reasons(app)["r0500@☃.example"]
        assert poisoned == ("failed", "unknown")
        with app.sessions() as session:
            text = session.query(Delivery.last_text).filter(Delivery.status == "failed").scalar()
        assert text is not None and text.startswith("not sent: the domain of")
        assert suppressions(app) == 0

    async def test_idn_domains_go_out_as_a_labels(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """A reader at bücher.de is sent to xn--bcher-kva.de, in the envelope and in To."""
        add(app, "user@bücher.de", ["chips"])
        report = await send(app, ingest(app))
        assert report["delivered"] == 1
        (message,) = smtp_sink.messages
        assert message.rcpt_to == ("user@xn--bcher-kva.de",)
        assert message.parsed()["To"] == "user@xn--bcher-kva.de"

    async def test_a_non_ascii_local_part_needs_a_relay_with_smtputf8(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """Without SMTPUTF8 that reader fails alone, unsent; a relay offering it delivers."""
        # Accepted because smtp.smtputf8 says the relay takes it; this relay does not.
        subscribe_readers(app, ["jürgen@example.de"], topics=["chips"], smtputf8=True)
        add(app, "ok@example.net", ["chips"])
        issue_id = ingest(app)
        report = await send(app, issue_id)
        assert (report["delivered"], report["failed"]) == (1, 1)
        assert smtp_sink.recipients() == ["ok@example.net"]
        assert reasons(app)["jürgen@example.de"] == ("failed", "unknown")
        with app.sessions() as session:
            run = ledger.get_run(session, 1)
            failed = session.query(Delivery).filter(Delivery.status == "failed").one()
            assert failed.last_text is not None and "SMTPUTF8" in failed.last_text
            failed.status = DeliveryStatus.PENDING  # the operator moved to a relay that has it
            session.commit()
        port = smtp_sink.port
        smtp_sink.stop()
        with SmtpSink(port=port, smtputf8=True) as utf8:
            again = await app.resume_run(run.id)
        assert again.delivered == 2
        assert utf8.recipients() == ["jürgen@example.de"]
        assert utf8.messages[0].parsed()["To"] == "jürgen@example.de"


class TestOutcomesToldTruthfully:
    @pytest.mark.smtp_faults(lose_reply=0.1)
    async def test_a_lost_final_reply_is_uncertain_and_never_sent_again_by_itself(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """Stored but unanswered: uncertain, not deferred; only the operator's resume resends."""
        readers = [f"r{n:03d}@example.net" for n in range(200)]
        for email in readers:
            add(app, email, ["chips"])
        issue_id = ingest(app)
        dispatcher = app.dispatcher()
        dispatcher.first_retry = 0.05
        transport = app.transport()
        try:
            first = await dispatcher.send(issue_id, transport, retry_for=5)
            lost = first.outcome_unknown
            assert lost > 5 and first.deferred == 0
            assert first.delivered + lost == 200
            # The server has every one of them already, once.
            assert sorted(smtp_sink.recipients()) == readers
            again = await dispatcher.send(issue_id, transport, retry_for=5)
            assert (again.sent_now, again.outcome_unknown) == (0, lost)  # no silent copies
            resumed = await dispatcher.resume(first.run_id, transport, resend_unknown=True)
        finally:
            await transport.close()
        assert (resumed.resent_unknown, resumed.outcome_unknown) == (lost, 0)
        assert resumed.delivered == 200
        assert len(smtp_sink.recipients()) == 200 + lost  # the copies the operator chose
