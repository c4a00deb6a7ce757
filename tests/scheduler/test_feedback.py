"""Bounces and complaints applied: matched by signed VERP token or Message-ID, applied once.

Real reports (the fixtures of tests/mailer/bounces/, written after Postfix, Exim and
Yahoo's feedback loop) are re-addressed to deliveries of a real send through an aiosmtpd sink,
put in a Maildir, and processed the way `briefmail bounces process` does.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from briefmail.app import Briefmail
from mailer.replies import Reason
from mailer.testing import SmtpSink
from scheduler.feedback import BounceRecord
from scheduler.ledger import Delivery
from subscribers.lists import get_list
from subscribers.models import (
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    address_hash,
)
from subscribers.service import subscribe
from tests.conftest import FIXTURES

BOUNCES = FIXTURES / "bounces"
HARD, SOFT, SPAM, FINE = (
    "no.such.reader@example.net",  # postfix-hard.eml
    "busy.reader@example.net",  # mailbox-full.eml
    "annoyed.reader@example.com",  # yahoo-arf.eml
    "happy.reader@example.org",
)


async def send_to_everyone(app: Briefmail) -> dict[str, tuple[int, str]]:
    """Subscribe four readers, send the sample brief; their (delivery id, Message-ID)."""
    with app.sessions() as session:
        newsletter = get_list(session, "brief")
        for address in (HARD, SOFT, SPAM, FINE):
            subscribe(session, newsletter, address, taxonomy=app.taxonomy, confirmed=True)
        session.commit()
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    report = await app.send_issue(stored.id)
    assert report.delivered == 4
    with app.sessions() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.id, Delivery.message_id).join(
                Delivery, Delivery.subscriber_id == Subscriber.id
            )
        ).all()
    sent = {}
    for email, delivery_id, message_id in rows:
        assert message_id is not None, f"{email} was sent without a recorded Message-ID"
        sent[email] = (delivery_id, message_id)
    return sent


def readdress(name: str, token: str, message_id: str, report_id: str = "") -> bytes:
    """A fixture report about our delivery: its VERP token and the returned Message-ID."""
    data = (BOUNCES / f"{name}.eml").read_bytes()
    data = re.sub(rb"bounces\+[0-9a-f.]+@", f"bounces+{token}@".encode(), data)
    data = re.sub(rb"<run12\.[0-9a-f.]+@news\.example\.org>", message_id.encode(), data)
    if report_id:  # another report of the same kind (a new Message-Id of the report itself)
        new = f"Message-Id: <{report_id}>".encode()
        data = re.sub(rb"^Message-Id: <[^>]+>", new, data, count=1, flags=re.M)
    return data


def maildir(tmp_path: Path, reports: dict[str, bytes]) -> Path:
    box = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    for name, data in reports.items():
        (box / "new" / name).write_bytes(data)
    return box


def status_of(app: Briefmail, address: str) -> tuple[SubscriptionStatus, bool]:
    with app.sessions() as session:
        status = session.scalar(
            select(Subscription.status)
            .join(Subscriber)
            .where(Subscriber.email_hash == address_hash(address))
        )
        suppressed = session.scalar(
            select(Suppression.id).where(Suppression.address_hash == address_hash(address))
        )
    assert status is not None
    return status, suppressed is not None


async def test_hard_bounce_complaint_and_soft_bounces_are_applied_once(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """Hard bounce → bounced + suppressed; complaint → complained + suppressed; soft → counted.

    The third soft bounce within the window suppresses (soft_limit = 3); processing the same
    mailbox again changes nothing; a report with a forged token is recorded but not applied.
    """
    sent = await send_to_everyone(app)
    signer = app.dispatcher().signer
    assert signer is not None

    def token(address: str) -> str:
        return signer.make_bounce_token(sent[address][0])

    box = maildir(
        tmp_path,
        {
            "1.eml": readdress("postfix-hard", token(HARD), sent[HARD][1]),
            # Yahoo's complaint goes to the feedback address: found by the returned Message-ID.
            "2.eml": readdress("yahoo-arf", "999.000000000000", sent[SPAM][1]),
            "3.eml": readdress("mailbox-full", token(SOFT), sent[SOFT][1], "soft-1@mx"),
            "4.eml": readdress("mailbox-full", token(SOFT), sent[SOFT][1], "soft-2@mx"),
            # A forged token for a real delivery, and a Message-ID we never sent.
            "5.eml": readdress(
                "postfix-hard", f"{sent[FINE][0]}.deadbeef0000", "<x@y>", "forged@mx"
            ),
            "6.eml": (BOUNCES / "out-of-office.eml").read_bytes(),
        },
    )
    first = app.process_bounces(box)
    assert (first.reports, first.already_seen, first.unmatched) == (6, 0, 1)
    assert dict(+first.events) == {Reason.GONE: 1, Reason.FULL: 2, Reason.COMPLAINT: 1}
    assert [(one.email, one.why) for one in first.suppressed] == [
        (HARD, "gone"),
        (SPAM, "complaint"),
    ]
    assert status_of(app, HARD) == (SubscriptionStatus.BOUNCED, True)
    assert status_of(app, SPAM) == (SubscriptionStatus.COMPLAINED, True)
    assert status_of(app, SOFT) == (SubscriptionStatus.CONFIRMED, False)
    assert status_of(app, FINE) == (SubscriptionStatus.CONFIRMED, False)

    again = app.process_bounces(box)
    assert (again.already_seen, again.suppressed, sum(again.events.values())) == (5, [], 0)

    third = maildir(
        tmp_path, {"7.eml": readdress("mailbox-full", token(SOFT), sent[SOFT][1], "soft-3@mx")}
    )
    [limit] = app.process_bounces(third).suppressed
    assert (limit.email, limit.why, limit.report_id) == (SOFT, "soft limit (full)", "<soft-3@mx>")
    assert status_of(app, SOFT) == (SubscriptionStatus.BOUNCED, True)
    with app.sessions() as session:
        records = session.scalars(select(BounceRecord).order_by(BounceRecord.id)).all()
        assert [r.reason for r in records].count(Reason.FULL) == 3
        assert {r.delivery_id for r in records if r.recipient == SOFT} == {sent[SOFT][0]}


async def test_the_verp_token_is_signed(app: Briefmail, smtp_sink: SmtpSink) -> None:
    """The envelope sender of each message is bounces+ID.MAC@domain, and the MAC checks out."""
    sent = await send_to_everyone(app)
    senders = {m.mail_from for m in smtp_sink.messages}
    signer = app.dispatcher().signer
    assert signer is not None
    for delivery_id, _ in sent.values():
        token = signer.make_bounce_token(delivery_id)
        assert f"bounces+{token}@news.example.org" in senders
        assert signer.read_bounce_token(token) == delivery_id
        assert signer.read_bounce_token(token.upper()) == delivery_id  # servers may fold case
        assert signer.read_bounce_token(f"{delivery_id + 1}.{token.split('.')[1]}") is None


async def test_serve_polls_the_configured_bounce_mailbox(
    app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """With [bounces] mailbox set, the scheduler has a polling job that applies what arrives."""
    from briefmail.settings import BouncesSettings
    from scheduler.jobs import BOUNCES_JOB_ID, build_scheduler, poll_bounces

    sent = await send_to_everyone(app)
    signer = app.dispatcher().signer
    assert signer is not None
    box = maildir(
        tmp_path,
        {
            "1.eml": readdress(
                "postfix-hard", signer.make_bounce_token(sent[HARD][0]), sent[HARD][1]
            )
        },
    )
    polling = Briefmail(
        app.settings.model_copy(update={"bounces": BouncesSettings(mailbox=box, poll_minutes=5)})
    )
    try:
        assert build_scheduler(polling.sending, blocking=False).get_job(BOUNCES_JOB_ID)
        assert build_scheduler(app.sending, blocking=False).get_job(BOUNCES_JOB_ID) is None
        poll_bounces(polling.sending)
        poll_bounces(polling.sending)  # again: nothing changes
    finally:
        polling.close()
    assert status_of(app, HARD) == (SubscriptionStatus.BOUNCED, True)
    with app.sessions() as session:
        assert len(session.scalars(select(BounceRecord)).all()) == 1


VENDORS = BOUNCES / "vendors"


def report_about(name: str, token: str, message_id: str, report_id: str) -> bytes:
    """A vendor sample re-addressed to our delivery, as its own report."""
    data = (VENDORS / f"{name}.eml").read_bytes()
    data = re.sub(rb"bounces\+\d+\.0a1b2c3d@", f"bounces+{token}@".encode(), data)
    data = re.sub(rb"<run12\.\d+\.aa00bb11cc22@news\.example\.org>", message_id.encode(), data)
    return re.sub(rb"^Message-ID: <[^>]+>", f"Message-ID: <{report_id}>".encode(), data, flags=re.M)


class TestReasons:
    """Only gone and complaints suppress; our side's refusals never count against a reader."""

    async def test_policy_sender_and_content_never_suppress_or_count(
        self, app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
    ) -> None:
        """Blocklist, SPF, refused-sender and bare 5.0.0 reports, thrice each, suppress nobody."""
        sent = await send_to_everyone(app)
        signer = app.dispatcher().signer
        assert signer is not None
        token = signer.make_bounce_token(sent[FINE][0])
        names = ["postfix-spamhaus", "postfix-spf", "postfix-sender-rejected", "opensmtpd-bare"]
        box = maildir(
            tmp_path,
            {
                f"{n}-{name}.eml": report_about(name, token, sent[FINE][1], f"{n}.{name}@mx")
                for n in range(3)
                for name in names
            },
        )
        summary = app.process_bounces(box)
        assert (summary.reports, summary.suppressed, summary.unmatched) == (12, [], 0)
        assert dict(+summary.events) == {Reason.POLICY: 6, Reason.SENDER: 3, Reason.UNKNOWN: 3}
        assert status_of(app, FINE) == (SubscriptionStatus.CONFIRMED, False)

    async def test_a_suppression_keeps_its_evidence(
        self, app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
    ) -> None:
        """A gone report's id and the server's words are stored with the suppression it caused."""
        sent = await send_to_everyone(app)
        signer = app.dispatcher().signer
        assert signer is not None
        data = report_about(
            "dsn-failure-action", signer.make_bounce_token(sent[HARD][0]), sent[HARD][1], "r1@mx"
        )
        app.process_bounces(maildir(tmp_path, {"1.eml": data}))
        with app.sessions() as session:
            row = session.scalar(
                select(Suppression).where(Suppression.address_hash == address_hash(HARD))
            )
        assert row is not None
        assert (row.reason, row.report_id, row.diagnostic) == (
            "hard bounce",
            "<r1@mx>",
            "550 5.1.1 No such user",
        )

    async def test_parse_matches_without_applying(
        self, app: Briefmail, smtp_sink: SmtpSink, tmp_path: Path
    ) -> None:
        """Parsing names each recipient's reason and matched delivery, and changes nothing."""
        sent = await send_to_everyone(app)
        signer = app.dispatcher().signer
        assert signer is not None
        data = readdress("postfix-hard", signer.make_bounce_token(sent[HARD][0]), sent[HARD][1])
        reports, errors = app.parse_bounces(maildir(tmp_path, {"1.eml": data}))
        assert errors == []
        [report] = reports
        [recipient] = report.as_json()["recipients"]
        assert (recipient["address"], recipient["reason"], recipient["delivery_id"]) == (
            HARD,
            "gone",
            sent[HARD][0],
        )
        assert status_of(app, HARD) == (SubscriptionStatus.CONFIRMED, False)
        with app.sessions() as session:
            assert session.scalars(select(BounceRecord)).all() == []

    def test_an_unreadable_path_is_named_and_the_others_still_count(
        self, app: Briefmail, tmp_path: Path
    ) -> None:
        """A path that cannot be read is one error naming it; the other paths are processed."""
        missing = tmp_path / "missing.eml"
        summary = app.process_bounces(missing, BOUNCES / "qmail.eml")
        assert summary.errors == [f"{missing}: No such file or directory"]
        assert (summary.reports, summary.unmatched) == (1, 1)
