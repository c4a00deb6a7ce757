"""`briefmail webhooks list|deliver|test`, and a deliverer process killed mid-round."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from briefmail.cli import cli
from tests.conftest import start_briefmail
from tests.scheduler.test_webhooks import SECRET, Receiver
from tests.scheduler.test_webhooks import receiver as receiver  # the fixture

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def add_webhook(home: Path, url: str, name: str, events: str = "") -> None:
    """Append a [[webhooks]] table (secret in $HOOK_SECRET) to the initialised briefmail.toml."""
    with (home / "briefmail.toml").open("a", encoding="utf-8") as config:
        config.write(
            f'\n[[webhooks]]\nurl = "{url}"\nname = "{name}"\nsecret_env = "HOOK_SECRET"\n'
        )
        if events:
            config.write(f"events = {events}\n")


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhooks' secret in the environment, as an operator would export it."""
    monkeypatch.setenv("HOOK_SECRET", SECRET.decode())


def test_list_without_webhooks_says_how_to_add_one(home: Path) -> None:
    """No [[webhooks]]: one line saying where they are configured."""
    code, out, _ = run("webhooks", "list")
    assert (code, out) == (
        0,
        "No webhooks configured (add [[webhooks]] tables to briefmail.toml).\n",
    )


def test_a_missing_secret_is_an_error_naming_the_webhook(home: Path, receiver: Receiver) -> None:
    """list and deliver refuse to run when a webhook's secret_env is not set, naming it."""
    add_webhook(home, receiver.url("/ok"), "crm")
    for command in ("list", "deliver"):
        code, _, err = run("webhooks", command)
        assert code == 2
        assert "webhooks[0] (crm)" in err and "HOOK_SECRET" in err


def test_test_event_list_and_deliver(home: Path, receiver: Receiver, secret: None) -> None:
    """test sends a signed webhook.test now; list shows it; a failing webhook exits 1."""
    add_webhook(home, receiver.url("/ok"), "crm")
    add_webhook(home, receiver.url("/fail"), "broken")
    code, out, _ = run("webhooks", "test", "crm")
    assert code == 0 and out.startswith("crm: delivered (HTTP 204, delivery ")
    (got,) = receiver.at("/ok")
    assert got.signed and got.event["type"] == "webhook.test"
    code, _, err = run("webhooks", "test", "broken")
    assert code == 1 and err.startswith("Error: broken: HTTP 500")
    code, _, err = run("webhooks", "test", "nobody")
    assert code == 2 and "no webhook named 'nobody' (known: crm, broken)" in err
    code, out, _ = run("webhooks", "list", "--json")
    listing = json.loads(out)
    assert [(w["name"], w["delivered"], w["pending"]) for w in listing["webhooks"]] == [
        ("crm", 1, 0),
        ("broken", 0, 1),
    ]
    assert [(d["webhook"], d["state"]) for d in listing["recent"]] == [
        ("broken", "pending"),
        ("crm", "delivered"),
    ]
    assert listing["recent"][0]["next_attempt_at"] is not None
    assert SECRET.decode() not in out
    code, out, _ = run("webhooks", "deliver", "--json")  # the retry is not due yet
    assert (code, json.loads(out)["retrying"]) == (0, 0)


def test_events_of_commands_reach_the_webhook(home: Path, receiver: Receiver, secret: None) -> None:
    """A confirmed add and an unsubscribe are delivered by `webhooks deliver`, in order."""
    add_webhook(home, receiver.url("/ok"), "crm")
    assert run("webhooks", "list")[0] == 0  # registers the webhook
    assert run("subscribers", "add", "ada@example.net", "--confirmed")[0] == 0
    assert run("subscribers", "remove", "ada@example.net")[0] == 0
    assert run("webhooks", "deliver")[0] == 0
    kinds = [r.event["type"] for r in receiver.at("/ok")]
    assert kinds == ["subscriber.confirmed", "subscriber.unsubscribed"]
    assert all(r.signed for r in receiver.at("/ok"))


def test_a_killed_deliverer_loses_nothing_and_resends_at_most_the_one_in_flight(
    home: Path, receiver: Receiver, secret: None
) -> None:
    """SIGKILL a `webhooks deliver --every` process mid-round; a second one finishes.

    Every event reaches the receiver, every signature checks, and only the delivery whose
    answer the killed process was waiting for arrives twice (same Briefmail-Delivery).
    """
    receiver.slow_seconds = 0.05
    add_webhook(home, receiver.url("/slow"), "crm", '["subscriber.confirmed"]')
    assert run("webhooks", "list")[0] == 0
    count = 20
    for number in range(count):
        assert run("subscribers", "add", f"r{number}@example.net", "--confirmed")[0] == 0
    first = start_briefmail(home, "webhooks", "deliver", "--every", "0.2")
    try:
        receiver.wait_for(7, "/slow")
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    assert len(receiver.at("/slow")) < count  # killed mid-round
    second = start_briefmail(home, "webhooks", "deliver", "--every", "0.2")
    try:
        deadline = time.monotonic() + 60
        while delivered(home) < count:
            assert time.monotonic() < deadline, "not every event was delivered"
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=30)
    got = receiver.at("/slow")
    assert all(r.signed for r in got)
    copies = Counter(r.headers["Briefmail-Delivery"] for r in got)
    assert len(copies) == count
    assert sum(n - 1 for n in copies.values()) <= 1, copies
    emails = {r.event["data"]["email"] for r in got}
    assert emails == {f"r{number}@example.net" for number in range(count)}


def delivered(home: Path) -> int:
    """How many deliveries `webhooks list` counts as delivered."""
    code, out, _ = run("webhooks", "list", "--json", "--recent", "0")
    assert code == 0
    return int(json.loads(out)["webhooks"][0]["delivered"])
