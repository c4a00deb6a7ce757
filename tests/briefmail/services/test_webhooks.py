"""app.webhooks: an operator's day as a webhook hears it, secrets, tests, the job, history."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from briefmail.app import Briefmail
from briefmail.services.webhooks import UnknownWebhook
from briefmail.settings import SettingsError, WebhookSettings
from mailer.testing import SmtpSink
from scheduler.jobs import WEBHOOKS_JOB_ID, build_scheduler
from tests.conftest import FIXTURES, subscribe_readers
from tests.scheduler.test_webhooks import SECRET, Receiver
from tests.scheduler.test_webhooks import receiver as receiver  # the fixture


def with_webhooks(app: Briefmail, *hooks: WebhookSettings) -> Briefmail:
    """A Briefmail on the same database and relay with these [[webhooks]], registered."""
    configured = Briefmail(app.settings.model_copy(update={"webhooks": list(hooks)}))
    configured.webhooks.sync()
    return configured


def hook(receiver: Receiver, path: str, name: str) -> WebhookSettings:
    """A [[webhooks]] table for one path of the receiver (secret in $HOOK_SECRET)."""
    return WebhookSettings(url=receiver.url(path), name=name, secret_env="HOOK_SECRET")


@pytest.fixture
def hooked(
    app: Briefmail, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Briefmail]:
    """The test app with one webhook ("crm", every event) at the receiver's /ok."""
    monkeypatch.setenv("HOOK_SECRET", SECRET.decode())
    configured = with_webhooks(app, hook(receiver, "/ok", "crm"))
    yield configured
    configured.close()


def _kinds(receiver: Receiver, path: str = "/ok") -> list[str]:
    return [r.event["type"] for r in receiver.at(path)]


@pytest.mark.smtp_faults(refuse={"gone@example.net": (550, "5.1.1 no such mailbox")})
def test_an_operators_day_as_the_webhook_hears_it(
    hooked: Briefmail, receiver: Receiver, smtp_sink: SmtpSink
) -> None:
    """Approve, send (one mailbox gone), finish: each event once, signed, in order."""
    subscribe_readers(hooked, ["ada@example.net", "bo@example.net", "gone@example.net"])
    stored = hooked.content.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    report = asyncio.run(hooked.sending.send(stored.id))
    assert report.delivered == 2
    assert hooked.webhooks.deliver().as_json()["retrying"] == 0
    kinds = _kinds(receiver)
    assert kinds[:3] == ["subscriber.confirmed"] * 3
    assert kinds[3:] == [
        "issue.approved",
        "run.started",
        "delivery.failed",
        "subscriber.suppressed",
        "run.finished",
    ]
    assert all(r.signed for r in receiver.at("/ok"))
    events = {r.event["type"]: r.event["data"] for r in receiver.at("/ok")}
    failed = events["delivery.failed"]
    assert failed["count"] == 1 and failed["failures"][0]["code"] == 550
    assert "gone@example.net" not in str(failed)  # a batch names deliveries, not people
    assert events["subscriber.suppressed"]["reason"] == "hard bounce"
    finished = events["run.finished"]
    assert finished["status"] == "done" and finished["counts"]["delivered"] == 2
    assert events["issue.approved"]["issue_id"] == stored.id


def test_a_pause_is_announced(hooked: Briefmail, receiver: Receiver) -> None:
    """An operator's pause of a planned run is a run.paused event."""
    subscribe_readers(hooked, ["ada@example.net"])
    stored = hooked.content.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    run_id = hooked.sending.plan(stored.id)
    hooked.sending.pause(run_id)
    hooked.webhooks.deliver()
    paused = [r.event["data"] for r in receiver.at("/ok") if r.event["type"] == "run.paused"]
    assert [(p["run_id"], p["reason"]) for p in paused] == [(run_id, "paused by an operator")]


def test_a_missing_secret_names_the_webhook_and_stops_only_it(
    hooked: Briefmail, receiver: Receiver
) -> None:
    """Strictly (start, list) a missing secret is an error; a round still serves the others."""
    configured = with_webhooks(
        hooked,
        hook(receiver, "/ok", "crm"),
        WebhookSettings(url=receiver.url("/fail"), name="nosecret", secret_env="UNSET_SECRET"),
    )
    try:
        with pytest.raises(SettingsError, match=r"webhooks\[1\] \(nosecret\).*UNSET_SECRET"):
            configured.webhooks.check()
        subscribe_readers(configured, ["ada@example.net"])
        assert configured.webhooks.deliver().delivered == 1
        assert _kinds(receiver) == ["subscriber.confirmed"]
        assert receiver.at("/fail") == []
        pending = [d for d in configured.webhooks.recent() if d.webhook == "nosecret"]
        assert [d.state for d in pending] == ["pending"]
    finally:
        configured.close()


def test_a_webhook_added_later_hears_only_what_follows(
    hooked: Briefmail, receiver: Receiver
) -> None:
    """Registering a new webhook does not replay the outbox's history to it."""
    subscribe_readers(hooked, ["ada@example.net"])
    later = with_webhooks(hooked, hook(receiver, "/ok", "crm"), hook(receiver, "/fail", "late"))
    try:
        subscribe_readers(later, ["bo@example.net"])
        owed = [(d.webhook, d.kind) for d in later.webhooks.recent()]
        assert sorted(owed) == [
            ("crm", "subscriber.confirmed"),
            ("crm", "subscriber.confirmed"),
            ("late", "subscriber.confirmed"),
        ]
    finally:
        later.close()


def test_send_test_reports_the_answer_and_keeps_each_attempt(
    hooked: Briefmail, receiver: Receiver
) -> None:
    """A test event is delivered at once; recent() shows its attempts, newest first."""
    delivery = hooked.webhooks.send_test("crm", actor="console:ada@example.org")
    assert (delivery.state, delivery.last_status, delivery.kind) == (
        "delivered",
        204,
        "webhook.test",
    )
    assert [a.status for a in delivery.history] == [204]
    (got,) = receiver.at("/ok")
    assert got.event["data"]["by"] == "console:ada@example.org"
    with pytest.raises(UnknownWebhook, match="no webhook named 'nope' \\(known: crm\\)"):
        hooked.webhooks.send_test("nope")


def test_the_scheduler_delivers_webhooks_every_fifteen_seconds(
    hooked: Briefmail, receiver: Receiver
) -> None:
    """With webhooks configured the app's scheduler (and `status`) holds a webhooks job."""
    job = hooked.sending.scheduler().get_job(WEBHOOKS_JOB_ID)
    assert job is not None and job.trigger.interval.total_seconds() == 15
    assert WEBHOOKS_JOB_ID in {info.id for info in hooked.sending.status().jobs}
    assert build_scheduler(hooked.sending, blocking=False).get_job(WEBHOOKS_JOB_ID) is None
    subscribe_readers(hooked, ["ada@example.net"])
    job.func(*job.args)
    assert _kinds(receiver) == ["subscriber.confirmed"]


@pytest.mark.smtp_faults(greeting=(554, "5.7.1 this relay does not take your mail"))
def test_a_run_that_pauses_itself_says_why(hooked: Briefmail, receiver: Receiver) -> None:
    """A relay turning us away pauses the run; the webhook hears run.paused with the reason."""
    subscribe_readers(hooked, ["ada@example.net"])
    stored = hooked.content.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    report = asyncio.run(hooked.sending.send(stored.id))
    assert report.delivered == 0
    hooked.webhooks.deliver()
    paused = [r.event["data"] for r in receiver.at("/ok") if r.event["type"] == "run.paused"]
    assert len(paused) == 1 and "554" in paused[0]["reason"]
    assert "run.finished" not in _kinds(receiver)
