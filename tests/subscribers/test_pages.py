"""The public page handlers called directly, without HTTP: plain values in, an Answer out.

`PublicPages` is built from the application's parts by hand, as a face other than the web one
would build it; rows go into a real database and notices through a real aiosmtpd server.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from briefmail.app import Briefmail
from mailer.render import Newsletter
from mailer.testing import SmtpSink
from scheduler.dispatch import newsletter_identity
from subscribers.models import (
    ConsentEvent,
    NewsletterList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from subscribers.notices import Notices
from subscribers.page_views import Answer
from subscribers.pages import (
    PreferencesForm,
    PublicPages,
    SubscribeForm,
    UnsubscribeForm,
    Visitor,
)
from subscribers.tokens import Purpose, TokenSigner
from tests.conftest import subscribe_readers

#: A visitor on one of our own pages, as the web face reads one from a request.
VISITOR = Visitor(ip="203.0.113.7", user_agent="test-browser", same_origin=True)


@pytest.fixture
def pages(app: Briefmail) -> PublicPages:
    """The page handlers of the test app, wired by hand from its parts."""

    def identity(row: NewsletterList) -> Newsletter:
        return newsletter_identity(row, "1 Example Street, 10115 Berlin", "en")

    def latest_issue(list_id: int) -> None:
        return None

    return PublicPages(
        sessions=app.sessions,
        taxonomy=app.taxonomy,
        signer=TokenSigner(app.settings.secret()),
        notices=Notices(app.renderer, identity, app.transport, app.dkim),
        latest_issue=latest_issue,
        base_url="https://news.example.org",
    )


def csrf_in(answer: Answer) -> str:
    """The CSRF token of the form on an answered page."""
    match = re.search(r'name="csrf" value="([^"]+)"', answer.body)
    assert match, "no CSRF token on the page"
    return match.group(1)


def token_in(sink: SmtpSink, kind: str) -> str:
    """The token of the last /{kind}/TOKEN link in the captured messages' text parts."""
    for message in reversed(sink.messages):
        body = message.parsed().get_body(preferencelist=("plain",))
        assert body is not None
        if match := re.search(rf"https://news\.example\.org/{kind}/(\S+)", body.get_content()):
            return match.group(1)
    raise AssertionError(f"no {kind} link was sent")


def status_of(app: Briefmail, email: str) -> SubscriptionStatus:
    """The status of the address's (one) subscription."""
    with app.sessions() as session:
        found = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == email)
        )
        assert found is not None
        return found.status


def token_for(app: Briefmail, purpose: Purpose, email: str) -> str:
    """A valid link token of ``purpose`` for the address's subscription."""
    with app.sessions() as session:
        found = session.scalars(
            select(Subscription).join(Subscriber).where(Subscriber.email == email)
        ).one()
        return TokenSigner(app.settings.secret()).make(
            purpose, found.id, found.subscriber.token_key
        )


async def subscribed(pages: PublicPages, email: str = "reader@example.net") -> Answer:
    """Show the form, post it from the same visitor, and let the work after the answer run."""
    form_page = pages.subscribe_form(None, VISITOR)
    assert form_page.form_cookie is not None
    visitor = Visitor(VISITOR.ip, VISITOR.user_agent, form_page.form_cookie, same_origin=True)
    form = SubscribeForm(email, ["brief"], ["chips"], csrf=csrf_in(form_page))
    answer = pages.subscribe(None, form, visitor)
    if answer.after is not None:
        await answer.after()
        await pages.signups.idle()
    return answer


class TestSubscribe:
    async def test_the_answer_comes_first_and_the_confirmation_after(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """A valid post answers "check your inbox" at once; its after-work mails the link."""
        form_page = pages.subscribe_form(None, VISITOR)
        assert form_page.status == 200 and form_page.form_cookie
        visitor = Visitor(VISITOR.ip, VISITOR.user_agent, form_page.form_cookie, True)
        form = SubscribeForm("reader@example.net", ["brief"], csrf=csrf_in(form_page))
        answer = pages.subscribe(None, form, visitor)
        assert answer.status == 200 and "Check your inbox" in answer.body
        assert answer.after is not None and smtp_sink.messages == []  # nobody looked up yet
        await answer.after()
        await pages.signups.idle()
        assert smtp_sink.recipients() == ["reader@example.net"]
        assert status_of(app, "reader@example.net") == SubscriptionStatus.PENDING
        with app.sessions() as session:
            event = session.scalars(select(ConsentEvent)).one()
            assert (event.action, event.source, event.ip) == ("subscribe", "web", "203.0.113.7")

    def test_a_post_from_another_site_is_refused(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """A post whose visitor is not on our own page gets "please try again" and no after-work."""
        form_page = pages.subscribe_form(None, VISITOR)
        assert form_page.form_cookie is not None
        visitor = Visitor(VISITOR.ip, form_cookie=form_page.form_cookie, same_origin=False)
        form = SubscribeForm("reader@example.net", ["brief"], csrf=csrf_in(form_page))
        answer = pages.subscribe(None, form, visitor)
        assert answer.status == 400 and "Please try again" in answer.body
        assert answer.after is None
        with app.sessions() as session:
            assert session.scalar(select(Subscriber)) is None

    def test_an_invalid_field_shows_the_form_again(self, pages: PublicPages) -> None:
        """An unknown cadence is judged from the form alone: 400, the form, and no after-work."""
        form_page = pages.subscribe_form("brief", VISITOR)
        assert form_page.form_cookie is not None
        visitor = Visitor(VISITOR.ip, form_cookie=form_page.form_cookie, same_origin=True)
        form = SubscribeForm("reader@example.net", cadence="hourly", csrf=csrf_in(form_page))
        answer = pages.subscribe("brief", form, visitor)
        assert answer.status == 400 and "hourly" in answer.body and answer.after is None
        assert 'action="/lists/brief/subscribe"' in answer.body

    def test_an_unknown_list_is_not_found(self, pages: PublicPages) -> None:
        """The form of a list that does not exist answers 404."""
        assert pages.subscribe_form("no-such-list", VISITOR).status == 404


class TestConfirm:
    async def test_the_button_confirms_and_welcomes(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """The link's page only shows the button; posting its token confirms and welcomes once."""
        await subscribed(pages)
        token = token_in(smtp_sink, "confirm")
        button = pages.confirm_page(token)
        assert button.status == 200 and "Confirm my subscription" in button.body
        assert status_of(app, "reader@example.net") == SubscriptionStatus.PENDING
        answer = await pages.confirm(token, csrf_in(button), VISITOR)
        assert answer.status == 200 and "You are subscribed" in answer.body
        assert status_of(app, "reader@example.net") == SubscriptionStatus.CONFIRMED
        again = await pages.confirm(token, csrf_in(button), VISITOR)
        assert again.status == 200 and "Already confirmed" in again.body
        assert [m.parsed()["Subject"] for m in smtp_sink.messages] == [
            "Confirm your subscription to Test Brief",
            "Welcome to Test Brief",
        ]

    async def test_another_pages_token_confirms_nothing(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """A CSRF token of another page is refused and the subscription stays pending."""
        await subscribed(pages)
        other = csrf_in(pages.subscribe_form(None, VISITOR))
        answer = await pages.confirm(token_in(smtp_sink, "confirm"), other, VISITOR)
        assert answer.status == 400 and "Please try again" in answer.body
        assert status_of(app, "reader@example.net") == SubscriptionStatus.PENDING


class TestPreferences:
    def test_new_choices_are_saved(self, app: Briefmail, pages: PublicPages) -> None:
        """Posting the preferences form with its token saves topics, cadence and hour."""
        subscribe_readers(app, ["reader@example.net"], topics=["chips"])
        token = token_for(app, Purpose.PREFERENCES, "reader@example.net")
        page = pages.preferences_page(token)
        assert page.status == 200
        form = PreferencesForm(["chips", "funding"], "weekly", "Asia/Tokyo", 8, csrf_in(page))
        answer = pages.save_preferences(token, form, VISITOR)
        assert answer.status == 200 and "Saved." in answer.body
        with app.sessions() as session:
            saved = session.scalars(select(Subscription)).one()
            assert (saved.cadence, saved.send_hour, saved.topics) == (
                "weekly",
                8,
                ("chips", "funding"),
            )

    def test_a_refused_choice_changes_nothing(self, app: Briefmail, pages: PublicPages) -> None:
        """An unknown cadence answers 400 with the reason; what was stored stays as it was."""
        subscribe_readers(app, ["reader@example.net"], topics=["chips"], send_hour=6)
        token = token_for(app, Purpose.PREFERENCES, "reader@example.net")
        form = PreferencesForm(
            ["policy"], "hourly", "UTC", 9, csrf_in(pages.preferences_page(token))
        )
        answer = pages.save_preferences(token, form, VISITOR)
        assert answer.status == 400 and "hourly" in answer.body
        with app.sessions() as session:
            kept = session.scalars(select(Subscription)).one()
            assert (kept.cadence, kept.send_hour, kept.topics) == ("daily", 6, ("chips",))

    def test_a_link_for_another_purpose_is_refused(
        self, app: Briefmail, pages: PublicPages
    ) -> None:
        """An unsubscribe token does not open the preferences page."""
        subscribe_readers(app, ["reader@example.net"])
        token = token_for(app, Purpose.UNSUBSCRIBE, "reader@example.net")
        assert pages.preferences_page(token).status == 400


class TestUnsubscribe:
    async def test_one_click_unsubscribes_with_a_plain_answer(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """RFC 8058's one-click needs no CSRF: a plain-text 200, unsubscribed, no goodbye."""
        subscribe_readers(app, ["reader@example.net"])
        token = token_for(app, Purpose.UNSUBSCRIBE, "reader@example.net")
        answer = await pages.unsubscribe(token, UnsubscribeForm(one_click=True), VISITOR)
        assert (answer.status, answer.kind, answer.form_cookie) == (200, "text", None)
        assert status_of(app, "reader@example.net") == SubscriptionStatus.UNSUBSCRIBED
        assert smtp_sink.messages == []

    async def test_the_button_unsubscribes_and_says_goodbye(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """The page's button (with its CSRF token) unsubscribes and sends one goodbye."""
        subscribe_readers(app, ["reader@example.net"])
        token = token_for(app, Purpose.UNSUBSCRIBE, "reader@example.net")
        page = pages.unsubscribe_page(token)
        assert "Unsubscribe from Test Brief?" in page.body
        answer = await pages.unsubscribe(token, UnsubscribeForm(csrf=csrf_in(page)), VISITOR)
        assert answer.status == 200 and answer.kind == "html"
        assert status_of(app, "reader@example.net") == SubscriptionStatus.UNSUBSCRIBED
        assert [m.parsed()["Subject"] for m in smtp_sink.messages] == [
            "You have unsubscribed from Test Brief"
        ]

    async def test_the_button_without_its_token_changes_nothing(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """A button post without the page's CSRF token is refused; the reader stays subscribed."""
        subscribe_readers(app, ["reader@example.net"])
        token = token_for(app, Purpose.UNSUBSCRIBE, "reader@example.net")
        answer = await pages.unsubscribe(token, UnsubscribeForm(csrf="forged"), VISITOR)
        assert answer.status == 400
        assert status_of(app, "reader@example.net") == SubscriptionStatus.CONFIRMED
        assert smtp_sink.messages == []
