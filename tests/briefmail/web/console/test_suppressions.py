"""Suppressions and bounces in the console: the evidence, a filter by reason, lifting (owners)."""

from __future__ import annotations

from briefmail.accounts.models import Role
from subscribers.directory import suppressions
from subscribers.service import suppress
from tests.briefmail.web.console.conftest import Console, csrf_of
from tests.conftest import subscribe_readers


def suppressed(console: Console) -> dict[str, int]:
    """The suppressions held, by address (None for an address no row holds) → id."""
    with console.app.sessions() as session:
        rows, _ = suppressions(session)
    return {row.email or f"hash-of-{row.reason}": row.id for row in rows}


def seed(console: Console) -> None:
    """A hard bounce with its evidence, a complaint, and an erased person."""
    subscribe_readers(console.app, ["gone@example.net", "angry@example.net", "me@example.net"])
    with console.app.sessions() as session:
        suppress(
            session,
            "gone@example.net",
            "hard bounce",
            report_id="<report-1@mx.example.net>",
            diagnostic="550 5.1.1 <gone@example.net>: user unknown",
        )
        suppress(session, "angry@example.net", "complaint", diagnostic="abuse report (ARF)")
        session.commit()
    console.app.people.erase("me@example.net")


def test_the_page_shows_each_suppression_with_its_evidence(console: Console) -> None:
    """Reason, the server's words and the report; the address only while a row holds it."""
    seed(console)
    with console.client() as client:
        console.login(client, Role.VIEWER)
        page = client.get("/admin/suppressions")
        assert page.status_code == 200
        text = page.text
        assert "550 5.1.1 &lt;gone@example.net&gt;: user unknown" in text
        assert "report &lt;report-1@mx.example.net&gt;" in text
        assert "angry@example.net" in text and "abuse report (ARF)" in text
        assert "me@example.net" not in text and "not held (only its hash)" in text
        assert "Lift" not in text  # a viewer lifts nothing
        filtered = client.get("/admin/suppressions", params={"reason": "complaint"})
        assert "angry@example.net" in filtered.text and "gone@example.net" not in filtered.text


def test_an_owner_lifts_a_bounce_but_not_an_erasure_or_a_complaint(
    console: Console,
) -> None:
    """Lifting a hard bounce works and is audited; an erasure or a complaint is refused."""
    seed(console)
    ids = suppressed(console)
    with console.client() as client:
        console.login(client, Role.EDITOR)
        token = csrf_of(client.get("/admin/suppressions").text)
        refused = client.post(
            f"/admin/suppressions/{ids['gone@example.net']}/lift", data={"csrf": token}
        )
        assert refused.status_code == 403
    with console.client() as client:
        owner = console.login(client, Role.OWNER)
        page = client.get("/admin/suppressions")
        assert page.text.count("only the person lifts it") == 2
        token = csrf_of(page.text)
        for locked in ("angry@example.net", "hash-of-erased"):
            answer = client.post(f"/admin/suppressions/{ids[locked]}/lift", data={"csrf": token})
            assert answer.status_code == 303
            assert "is the person&#39;s own word" in client.get("/admin/suppressions").text
        lifted = client.post(
            f"/admin/suppressions/{ids['gone@example.net']}/lift", data={"csrf": token}
        )
        assert lifted.status_code == 303
        assert "(hard bounce) lifted" in client.get("/admin/suppressions").text
    assert set(suppressed(console)) == {"angry@example.net", "hash-of-erased"}
    [entry] = console.app.audit.entries(actor=owner.actor, action="suppression.lifted")
    assert entry.before is not None and entry.before["diagnostic"].startswith("550 5.1.1")
