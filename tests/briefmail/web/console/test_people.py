"""Subscribers in the console: search, a person's page, confirm/resend/unsubscribe/erase, CSV."""

from __future__ import annotations

import csv
import io

import httpx

from briefmail.accounts.models import Role
from subscribers.lists import get_list
from subscribers.service import subscribe, suppress
from tests.briefmail.web.console.conftest import Console, csrf_of
from tests.conftest import subscribe_readers


def add_pending(console: Console, *addresses: str) -> None:
    """Pending readers of the default list (no e-mail sent)."""
    app = console.app
    with app.sessions() as session:
        newsletter = get_list(session, "brief")
        for address in addresses:
            subscribe(session, newsletter, address, taxonomy=app.taxonomy)
        session.commit()


def subscriber_id(console: Console, email: str) -> int:
    """The id of the subscriber with this address (as the search links it)."""
    from subscribers.service import find_subscriber

    with console.app.sessions() as session:
        found = find_subscriber(session, email)
        assert found is not None
        return found.id


def test_search_filters_counts_and_pages(console: Console) -> None:
    """Substring, status and topic filters narrow the list; counts per status; keyset pages."""
    subscribe_readers(console.app, [f"reader{n:02d}@example.net" for n in range(55)])
    subscribe_readers(console.app, ["chips@example.org"], topics=["chips"])
    subscribe_readers(console.app, ["policy@example.org"], topics=["policy"])
    add_pending(console, "waiting@example.org")
    with console.client() as client:
        console.login(client, Role.VIEWER)
        first = client.get("/admin/subscribers")
        assert first.status_code == 200
        assert 'data-count="confirmed">57<' in first.text
        assert 'data-count="pending">1<' in first.text
        assert first.text.count('href="/admin/subscribers/') == 50
        assert "waiting@example.org" in first.text  # newest first
        [next_link] = [line for line in first.text.splitlines() if 'rel="next"' in line]
        href = next_link.split('href="')[1].split('"')[0].replace("&amp;", "&")
        second = client.get(href)
        assert second.text.count('href="/admin/subscribers/') == 8
        assert "reader00@example.net" in second.text and "reader00@example.net" not in first.text
        assert 'rel="next"' not in second.text
        found = client.get("/admin/subscribers", params={"q": "READER1"})
        assert found.text.count('href="/admin/subscribers/') == 10
        assert 'data-count="confirmed">10<' in found.text
        chips = client.get("/admin/subscribers", params={"topic": "chips", "q": "example.org"})
        assert "chips@example.org" in chips.text and "policy@example.org" not in chips.text
        assert "waiting@example.org" in chips.text  # every topic includes chips
        pending = client.get("/admin/subscribers", params={"status": "pending"})
        assert pending.text.count('href="/admin/subscribers/') == 1
        bad = client.get("/admin/subscribers", params={"status": "lost"})
        assert bad.status_code == 400 and "status: &#39;lost&#39; is not one of" in bad.text
        assert client.get("/admin/subscribers", params={"list": "nope"}).status_code == 400


def test_a_persons_page_shows_their_subscriptions_consent_and_suppression(
    console: Console,
) -> None:
    """The person's page: subscription, consent history, and a suppression's evidence."""
    subscribe_readers(console.app, ["gone@example.net"], topics=["chips"], timezone="Europe/Berlin")
    with console.app.sessions() as session:
        suppress(session, "gone@example.net", "hard bounce", diagnostic="550 5.1.1 no such user")
        session.commit()
    with console.client() as client:
        console.login(client, Role.VIEWER)
        page = client.get(f"/admin/subscribers/{subscriber_id(console, 'gone@example.net')}")
        assert page.status_code == 200
        assert "gone@example.net" in page.text and "Europe/Berlin" in page.text
        assert "hard bounce since" in page.text and "550 5.1.1 no such user" in page.text
        assert "confirmed by the operator" in page.text  # the consent history
        assert ">chips<" in page.text
        # A viewer sees no action buttons.
        assert "/confirm" not in page.text and "/erase" not in page.text
        assert client.get("/admin/subscribers/99999").status_code == 404


def test_an_editor_confirms_resends_and_unsubscribes_each_audited(console: Console) -> None:
    """Confirm, resend (mailed once an hour) and unsubscribe, each in the audit log."""
    add_pending(console, "p@example.net", "q@example.net")
    p, q = subscriber_id(console, "p@example.net"), subscriber_id(console, "q@example.net")
    with console.client() as client:
        editor = console.login(client, Role.EDITOR)
        token = csrf_of(client.get(f"/admin/subscribers/{q}").text)
        answer = client.post(f"/admin/subscribers/{q}/resend", data={"csrf": token})
        assert answer.status_code == 303
        assert "confirmation e-mail sent" in client.get(f"/admin/subscribers/{q}").text
        [message] = console.sink.messages
        assert message.parsed()["To"] == "q@example.net"
        client.post(f"/admin/subscribers/{q}/resend", data={"csrf": token})
        again = client.get(f"/admin/subscribers/{q}").text
        assert "less than an hour ago" in again and len(console.sink.messages) == 1
        client.post(f"/admin/subscribers/{p}/confirm", data={"csrf": token})
        assert "brief: confirmed." in client.get(f"/admin/subscribers/{p}").text
        client.post(f"/admin/subscribers/{p}/unsubscribe", data={"csrf": token, "list": "brief"})
        assert "brief: unsubscribed." in client.get(f"/admin/subscribers/{p}").text
    statuses = {s.email: s.status for s in console.app.people.subscribers()}
    assert statuses == {"p@example.net": "unsubscribed", "q@example.net": "pending"}
    actions = [(e.action, e.target) for e in console.app.audit.entries(actor=editor.actor)]
    assert ("subscriber.confirmation_sent", f"subscriber:{q}") in actions
    assert ("subscriber.confirmed", f"subscriber:{p}") in actions
    assert ("subscriber.unsubscribed", f"subscriber:{p}") in actions


def test_erasing_needs_an_owner_and_the_typed_address(console: Console) -> None:
    """A viewer and an editor cannot erase; an owner must type the address; then it is gone."""
    subscribe_readers(console.app, ["erase.me@example.net"])
    person = subscriber_id(console, "erase.me@example.net")
    for role in (Role.VIEWER, Role.EDITOR):
        with console.client() as client:
            console.login(client, role)
            token = csrf_of(client.get(f"/admin/subscribers/{person}").text)
            answer = client.post(
                f"/admin/subscribers/{person}/erase",
                data={"csrf": token, "typed": "erase.me@example.net"},
            )
            assert answer.status_code == 403, role
    with console.client() as client:
        owner = console.login(client, Role.OWNER)
        page = client.get(f"/admin/subscribers/{person}")
        assert 'name="typed"' in page.text
        token = csrf_of(page.text)
        wrong = client.post(
            f"/admin/subscribers/{person}/erase", data={"csrf": token, "typed": "erase.me@"}
        )
        assert wrong.headers["location"] == f"/admin/subscribers/{person}"
        assert "nothing was erased" in client.get(f"/admin/subscribers/{person}").text
        assert [s.email for s in console.app.people.subscribers()] == ["erase.me@example.net"]
        right = client.post(
            f"/admin/subscribers/{person}/erase",
            data={"csrf": token, "typed": "Erase.Me@example.net"},
        )
        assert right.status_code == 303 and right.headers["location"] == "/admin/subscribers"
        assert "was erased" in client.get(f"/admin/subscribers/{person}").text
    assert console.app.people.subscribers() == []
    [entry] = [
        e for e in console.app.audit.entries(actor=owner.actor) if e.action == "subscriber.erased"
    ]
    assert entry.target == f"subscriber:{person}"
    assert "erase.me" not in str(entry.as_json())  # the audit log keeps no erased address


def upload(client: httpx.Client, text: str) -> httpx.Response:
    """Upload a CSV file to the import form; the preview page."""
    token = csrf_of(client.get("/admin/subscribers/import").text)
    return client.post(
        "/admin/subscribers/import",
        data={"csrf": token, "list": "brief"},
        files={"file": ("readers.csv", text.encode(), "text/csv")},
    )


def test_the_import_preview_shows_every_bad_row_and_applies_nothing(
    console: Console,
) -> None:
    """Bad rows are each named with line and why; nothing is written, and there is no apply."""
    with console.client() as client:
        console.login(client, Role.EDITOR)
        preview = upload(
            client,
            "email,topics,cadence\nok@example.net,chips,daily\nnot-an-address,,\n"
            "b@example.net,bogus,\nc@example.net,,monthly\n",
        )
    assert preview.status_code == 200
    assert "3 bad rows: nothing can be imported" in preview.text
    for line, why in ((3, "not-an-address"), (4, "bogus"), (5, "monthly")):
        assert f'<td class="num">{line}</td>' in preview.text and why in preview.text
    assert "/admin/subscribers/import/apply" not in preview.text
    assert console.app.people.subscribers() == []


def test_the_import_applies_exactly_the_previewed_rows(console: Console) -> None:
    """Preview lists what would change and writes nothing; apply imports those rows only."""
    subscribe_readers(console.app, ["old@example.net"], topics=["chips"])
    with console.client() as client:
        console.login(client, Role.EDITOR)
        preview = upload(
            client,
            "email,status,topics\nnew@example.net,confirmed,policy\nold@example.net,,\n"
            "wait@example.net,,\n",
        )
        assert "3 rows: 2 new, 1 changed, 0 unchanged" in preview.text
        assert "1 would be pending" in preview.text
        assert "topics → every topic" in preview.text  # old@ loses its chips choice
        assert [s.email for s in console.app.people.subscribers()] == ["old@example.net"]
        form = dict(
            (name, value)
            for name, value in (
                (field.split('name="')[1].split('"')[0], field.split('value="')[1].split('"')[0])
                for field in preview.text.split("<input")[1:]
                if 'type="hidden"' in field
            )
        )
        tampered = client.post("/admin/subscribers/import/apply", data={**form, "sha256": "0" * 64})
        assert tampered.status_code == 400 and "changed since its preview" in tampered.text
        done = client.post(
            "/admin/subscribers/import/apply", data={**form, "send_confirmations": "1"}
        )
        assert done.status_code == 200 and "2 new, 1 changed" in done.text
        assert "Confirmations: 1 sent of 1." in done.text
        again = client.post("/admin/subscribers/import/apply", data=form)
        assert again.status_code == 400 and "upload it again" in again.text
    rows = {s.email: (s.status, s.topics) for s in console.app.people.subscribers()}
    assert rows == {
        "new@example.net": ("confirmed", ("policy",)),
        "old@example.net": ("confirmed", ()),
        "wait@example.net": ("pending", ()),
    }
    assert [m.parsed()["To"] for m in console.sink.messages] == ["wait@example.net"]


def test_export_downloads_the_list_as_csv(console: Console) -> None:
    """Export (editors) is the list's CSV; a viewer may not download it."""
    subscribe_readers(console.app, ["a@example.net"], topics=["chips", "policy"])
    with console.client() as client:
        console.login(client, Role.VIEWER)
        assert client.get("/admin/subscribers/export").status_code == 403
    with console.client() as client:
        console.login(client, Role.EDITOR)
        answer = client.get("/admin/subscribers/export")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(answer.text)))
    assert row["email"] == "a@example.net" and row["topics"] == "chips|policy"
