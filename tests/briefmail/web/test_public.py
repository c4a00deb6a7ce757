"""The public pages, served in-process: double opt-in, preferences, RFC 8058, security, archive.

(tests/subscribers/test_notices.py checks the notices' headers and DKIM signatures; the GET walk
over every route is in tests/briefmail/web/test_routes_get.py.)

Requests go through the real FastAPI app over httpx's ASGI transport; e-mails go through a
real aiosmtpd server and are read back from it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from briefmail.app import Briefmail
from briefmail.web import create_web
from mailer.testing import SmtpSink
from subscribers.lists import get_list
from subscribers.models import ConsentEvent, Subscriber, Subscription, SubscriptionStatus
from subscribers.service import erase, subscribe, unsubscribe
from subscribers.signup import Background
from subscribers.tokens import Purpose, TokenSigner
from tests.conftest import FIXTURES, subscribe_readers

SITE = "https://news.example.org"


class Client(httpx.AsyncClient):
    """A browser-like client of the app: keeps cookies, sends Origin, can wait for the app."""

    def __init__(self, app: Briefmail | FastAPI, ip: str = "203.0.113.7") -> None:
        web = create_web(app) if isinstance(app, Briefmail) else app  # one app, many visitors
        self.signups: Background = web.state.signups
        transport = httpx.ASGITransport(app=web, client=(ip, 50000))
        super().__init__(transport=transport, base_url=SITE, headers={"Origin": SITE})

    async def settled(self) -> None:
        """Wait for the work the app does after answering (lookups, confirmation e-mails)."""
        await self.signups.idle()


@pytest.fixture
async def client(app: Briefmail) -> AsyncIterator[Client]:
    async with Client(app) as c:
        yield c


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def link_in(sink: SmtpSink, kind: str) -> str:
    """The last /{kind}/… link in the captured messages' text parts."""
    for message in reversed(sink.messages):
        body = message.parsed().get_body(preferencelist=("plain",))
        assert body is not None
        if match := re.search(rf"https://news\.example\.org/{kind}/\S+", body.get_content()):
            return urlparse(match.group(0)).path
    raise AssertionError(f"no {kind} link was sent")


async def subscribe_form(client: Client, **fields: object) -> httpx.Response:
    """Fill both steps of the subscribe form as a browser does, and wait for what follows.

    Step one posts the address (and list) alone; step two, the page it answers, the choices.
    """
    page = (await client.get("/subscribe")).text
    email = str(fields.get("email", "reader@example.net"))
    first = {"step": "address", "email": email, "lists": "brief", "csrf": csrf_of(page)}
    second = await client.post("/subscribe", data=first)
    if "Choose what you get" in second.text:
        page = second.text  # else step one refused the address: step two posts as typed
    data = {
        "step": "choices",
        "email": "reader@example.net",
        "lists": "brief",
        "topics": ["chips", "models"],
        "cadence": "daily",
        "timezone": "Europe/Berlin",
        "send_hour": "7",
        "csrf": csrf_of(page),
        **fields,
    }
    response = await client.post("/subscribe", data=data)
    await client.settled()
    return response


async def confirm_by_button(client: Client, path: str) -> httpx.Response:
    """Open a confirmation link's page and press its button, as a reader does."""
    page = await client.get(path)
    assert page.status_code == 200 and "Confirm my subscription" in page.text, page.text
    return await client.post(path, data={"csrf": csrf_of(page.text)})


def subscription_of(app: Briefmail, email: str) -> Subscription:
    with app.sessions() as session:
        found = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == email)
        )
        assert found is not None
        session.expunge(found)
        return found


class TestDoubleOptIn:
    async def test_subscribe_confirm_welcome(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """Subscribing sends a confirm link; following it confirms, welcomes and records consent."""
        response = await subscribe_form(client)
        assert response.status_code == 200 and "Check your inbox" in response.text
        assert subscription_of(app, "reader@example.net").status == SubscriptionStatus.PENDING
        assert (
            smtp_sink.messages[-1].parsed()["Subject"] == "Confirm your subscription to Test Brief"
        )
        assert "List-Unsubscribe" not in smtp_sink.messages[-1].parsed()
        confirmed = await confirm_by_button(client, link_in(smtp_sink, "confirm"))
        assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
        assert subscription_of(app, "reader@example.net").status == SubscriptionStatus.CONFIRMED
        assert smtp_sink.messages[-1].parsed()["Subject"] == "Welcome to Test Brief"
        assert "One-Click" in smtp_sink.messages[-1].parsed()["List-Unsubscribe-Post"]
        with app.sessions() as session:
            events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
            assert [(e.action, e.source, e.ip, e.wording) for e in events] == [
                ("subscribe", "web", "203.0.113.7", "2026-12-web-2"),
                ("confirm", "web", "203.0.113.7", "2026-12-web-2"),
            ]
        again = await client.post(link_in(smtp_sink, "confirm"), data={"csrf": "unused"})
        assert again.status_code == 400  # a stale form is refused before anything is looked at
        assert len(smtp_sink.messages) == 2

    async def test_opening_the_link_confirms_nothing(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """A GET of the confirmation link (a link scanner) shows the button and changes nothing."""
        await subscribe_form(client)
        path = link_in(smtp_sink, "confirm")
        for _ in range(3):
            page = await client.get(path)
            assert page.status_code == 200 and "Confirm your subscription" in page.text
            assert '<form method="post">' in page.text and "<script" not in page.text
        assert subscription_of(app, "reader@example.net").status == SubscriptionStatus.PENDING
        assert len(smtp_sink.messages) == 1
        with app.sessions() as session:
            assert session.scalars(select(ConsentEvent.action)).all() == ["subscribe"]

    async def test_the_button_needs_the_page_csrf_token(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """A POST to the link without the page's CSRF token (or another page's) confirms nothing."""
        await subscribe_form(client)
        path = link_in(smtp_sink, "confirm")
        other = csrf_of((await client.get("/subscribe")).text)
        for csrf in ("", "forged", other):
            response = await client.post(path, data={"csrf": csrf})
            assert response.status_code == 400 and "Please try again" in response.text
        assert subscription_of(app, "reader@example.net").status == SubscriptionStatus.PENDING
        assert len(smtp_sink.messages) == 1

    async def test_a_confirmed_link_says_already_confirmed(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """After confirming, the link and a second press answer "already confirmed", no mail."""
        await subscribe_form(client)
        path = link_in(smtp_sink, "confirm")
        page = (await client.get(path)).text
        assert (await client.post(path, data={"csrf": csrf_of(page)})).status_code == 200
        again = await client.post(path, data={"csrf": csrf_of(page)})
        opened = await client.get(path)
        for response in (again, opened):
            assert response.status_code == 200 and "Already confirmed" in response.text
            preferences = re.search(
                r'href="https://news\.example\.org(/preferences/[^"]+)"', response.text
            )
            assert preferences is not None
            assert (await client.get(preferences.group(1))).status_code == 200
        assert [m.parsed()["Subject"] for m in smtp_sink.messages] == [
            "Confirm your subscription to Test Brief",
            "Welcome to Test Brief",
        ]

    async def test_a_link_of_an_ended_subscription_is_no_longer_valid(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """A confirmation link of a subscription unsubscribed since neither confirms nor offers."""
        await subscribe_form(client)
        path = link_in(smtp_sink, "confirm")
        page = (await client.get(path)).text
        with app.sessions() as session:
            unsubscribe(session, get_list(session, "brief"), "reader@example.net")
            session.commit()
        for response in (
            await client.get(path),
            await client.post(path, data={"csrf": csrf_of(page)}),
        ):
            assert response.status_code == 400 and "This link no longer works" in response.text
        assert subscription_of(app, "reader@example.net").status == SubscriptionStatus.UNSUBSCRIBED

    async def test_the_answer_does_not_reveal_existing_subscribers(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """A known and an unknown address get byte-identical pages; the known one is unchanged."""
        with app.sessions() as session:
            subscribe(
                session,
                get_list(session, "brief"),
                "known@example.net",
                taxonomy=app.taxonomy,
                topics=["policy"],
                confirmed=True,
            )
            session.commit()
        known = await subscribe_form(client, email="known@example.net", topics=["robotics"])
        unknown = await subscribe_form(client, email="new@example.net")
        assert known.status_code == unknown.status_code == 200
        assert known.text == unknown.text
        assert subscription_of(app, "known@example.net").status == SubscriptionStatus.CONFIRMED
        assert smtp_sink.recipients() == ["new@example.net"]

    async def test_bad_input_is_shown_inert_on_the_form(self, client: Client) -> None:
        """An invalid address is refused on the form, and markup in it is shown as text."""
        response = await subscribe_form(client, email='"><script>alert(1)</script>')
        assert response.status_code == 400
        assert "<script>alert(1)" not in response.text
        assert "&lt;script&gt;" in response.text or "&#34;&gt;&lt;script" in response.text


class TestAbuse:
    async def test_post_without_csrf_token_is_refused(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """A form post without (or with a forged) CSRF token changes nothing and sends nothing."""
        response = await subscribe_form(client, csrf="forged")
        assert response.status_code == 400
        assert smtp_sink.messages == []

    async def test_honeypot_pretends_success(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """A filled honeypot gets the normal answer, but nothing is stored or sent."""
        response = await subscribe_form(client, website="http://spam.example")
        assert "Check your inbox" in response.text
        assert smtp_sink.messages == []
        with app.sessions() as session:
            assert session.scalar(select(Subscriber)) is None


class TestTokens:
    def tokens(self, app: Briefmail, email: str) -> tuple[TokenSigner, Subscription]:
        return TokenSigner(app.settings.secret()), subscription_of(app, email)

    @pytest.fixture
    def reader(self, app: Briefmail) -> None:
        with app.sessions() as session:
            for email in ("a@example.net", "b@example.net"):
                subscribe(
                    session,
                    get_list(session, "brief"),
                    email,
                    taxonomy=app.taxonomy,
                    topics=["chips"],
                    confirmed=True,
                )
            session.commit()

    @pytest.mark.usefixtures("reader")
    async def test_bad_tokens_are_refused(self, app: Briefmail, client: Client) -> None:
        """Forged, wrong-purpose, cross-subscriber and revoked tokens are all refused."""
        signer, a = self.tokens(app, "a@example.net")
        _, b = self.tokens(app, "b@example.net")
        with app.sessions() as session:
            key_a = session.get(Subscriber, a.subscriber_id).token_key  # type: ignore[union-attr]
            key_b = session.get(Subscriber, b.subscriber_id).token_key  # type: ignore[union-attr]
        good = signer.make(Purpose.PREFERENCES, a.id, key_a)
        assert (await client.get(f"/preferences/{good}")).status_code == 200
        bad = [
            "forged.token.value",
            signer.make(Purpose.UNSUBSCRIBE, a.id, key_a),  # wrong purpose
            signer.make(Purpose.PREFERENCES, a.id, key_b),  # another subscriber's key
            TokenSigner("y" * 32).make(Purpose.PREFERENCES, a.id, key_a),  # another secret
        ]
        for token in bad:
            assert (await client.get(f"/preferences/{token}")).status_code == 400, token
        with app.sessions() as session:
            erase(session, "a@example.net")
            session.commit()
        assert (await client.get(f"/preferences/{good}")).status_code == 400

    async def test_expired_confirmation_is_refused(self, app: Briefmail, client: Client) -> None:
        """A confirmation link past its week is refused as expired."""
        import time as time_module

        signer = TokenSigner(app.settings.secret())
        original = time_module.time
        try:
            time_module.time = lambda: original() - 8 * 24 * 3600
            old = signer.make(Purpose.CONFIRM, 1, "k")
        finally:
            time_module.time = original
        response = await client.get(f"/confirm/{old}")
        assert response.status_code == 400 and "expired" in response.text


class TestPreferences:
    async def test_change_topics_and_cadence_with_preview(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """The preference centre saves new choices and previews the latest issue for them."""
        app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True)
        await subscribe_form(client, topics=["chips"])
        await confirm_by_button(client, link_in(smtp_sink, "confirm"))
        path = link_in(smtp_sink, "preferences")
        page = (await client.get(path)).text
        assert "Foundry Starts Volume Output" in page and "Start-up Closes" not in page
        response = await client.post(
            path,
            data={
                "topics": ["chips", "funding"],
                "cadence": "weekly",
                "timezone": "Asia/Shanghai",
                "send_hour": "8",
                "csrf": csrf_of(page),
            },
        )
        assert response.status_code == 200 and "Saved." in response.text
        assert "Start-up Closes Series B Round" in response.text
        saved = subscription_of(app, "reader@example.net")
        assert (saved.cadence, saved.send_hour) == ("weekly", 8)
        refused = await client.post(path, data={"topics": ["chips"], "csrf": "x"})
        assert refused.status_code == 400


class TestUnsubscribe:
    async def test_one_click_from_a_sent_message(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """RFC 8058: POSTing One-Click to the List-Unsubscribe URL unsubscribes, 200, no cookie."""
        subscribe_readers(app, ["a@example.net"], topics=["chips"])
        stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
        assert stored is not None
        await app.send_issue(stored.id)
        header = smtp_sink.messages[-1].parsed()["List-Unsubscribe"]
        url = re.search(r"<(https://[^>]+)>", header)
        assert url is not None
        response = await client.post(
            urlparse(url.group(1)).path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert "set-cookie" not in response.headers and "location" not in response.headers
        assert subscription_of(app, "a@example.net").status == SubscriptionStatus.UNSUBSCRIBED
        second = app.ingest(FIXTURES / "bulletin-sample.txt", "brief", approve=True).stored
        assert second is not None
        report = await app.send_issue(second.id)
        assert report.planned == 0 and report.skipped == {"unsubscribed": 1}

    async def test_page_button_can_leave_every_list(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """The unsubscribe page's form (with CSRF) can leave every list, and says goodbye once."""
        from subscribers.lists import create_list

        with app.sessions() as session:
            create_list(session, "ict", "ICT Bulletin", "ICT <ict@news.example.org>")
            for slug in ("brief", "ict"):
                subscribe(
                    session,
                    get_list(session, slug),
                    "a@example.net",
                    taxonomy=app.taxonomy,
                    confirmed=True,
                )
            session.commit()
            sub = session.scalar(select(Subscription).where(Subscription.list_id == 1))
            assert sub is not None
            token = TokenSigner(app.settings.secret()).make(
                Purpose.UNSUBSCRIBE, sub.id, sub.subscriber.token_key
            )
        page = (await client.get(f"/unsubscribe/{token}")).text
        assert "Unsubscribe from Test Brief?" in page
        response = await client.post(
            f"/unsubscribe/{token}", data={"csrf": csrf_of(page), "all_lists": "1"}
        )
        assert response.status_code == 200 and "ICT Bulletin" in response.text
        with app.sessions() as session:
            statuses = set(session.scalars(select(Subscription.status)))
        assert statuses == {SubscriptionStatus.UNSUBSCRIBED}
        assert [m.parsed()["Subject"] for m in smtp_sink.messages] == [
            "You have unsubscribed from Test Brief"
        ]


class TestArchive:
    async def test_sent_issues_are_in_the_archive_and_feed(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """Only sent issues are listed; the web version has every story; the feed is Atom."""
        stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
        assert stored is not None
        assert "Nothing has been sent yet" in (await client.get("/archive")).text
        assert (await client.get(f"/archive/{stored.id}")).status_code == 404
        await app.send_issue(stored.id)
        index = (await client.get("/archive")).text
        assert f"/archive/{stored.id}" in index
        web = (await client.get(f"/archive/{stored.id}")).text
        assert "Foundry Starts" in web and "Start-up Closes" in web
        assert "briefmail-slot" not in web
        feed = await client.get("/feed.xml")
        assert feed.headers["content-type"].startswith("application/atom+xml")
        assert "<entry>" in feed.text and f"/archive/{stored.id}" in feed.text
