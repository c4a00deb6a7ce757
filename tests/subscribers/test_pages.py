"""The public page handlers called directly, without HTTP: plain values in, an Answer out.

`PublicPages` is built from the application's parts by hand, as a face other than the web one
would build it; rows go into a real database and notices through a real aiosmtpd server.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from sqlalchemy import select

from briefmail.app import Briefmail
from mailer.render import Newsletter
from mailer.testing import SmtpSink, free_port
from mailer.transport.smtp import SmtpConfig, SmtpPool
from scheduler.dispatch import newsletter_identity
from subscribers.limits import RateLimiter
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
from subscribers.signup import Background
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


def visitor_of(answer: Answer) -> Visitor:
    """The visitor who was shown ``answer``, carrying the form cookie it set."""
    assert answer.form_cookie is not None
    return Visitor(VISITOR.ip, VISITOR.user_agent, answer.form_cookie, same_origin=True)


async def run_after(pages: PublicPages, answer: Answer) -> None:
    """Let the work an answer queued for after it has gone out run to its end."""
    if answer.after is not None:
        await answer.after()
        await pages.signups.idle()


class TestTwoSteps:
    def test_the_first_step_asks_for_the_address_alone(self, pages: PublicPages) -> None:
        """The form opens with the address (no topics, no time zone) and a Continue button."""
        answer = pages.subscribe_form(None, VISITOR)
        assert 'name="step" value="address"' in answer.body and "Continue" in answer.body
        assert 'name="topics"' not in answer.body and 'id="timezone"' not in answer.body

    async def test_the_address_leads_to_the_choices_with_defaults(
        self, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """A well-formed address answers the choices (daily checked, zone list); nothing is sent."""
        first = pages.subscribe_form(None, VISITOR)
        form = SubscribeForm("reader@example.net", ["brief"], csrf=csrf_in(first), step="address")
        answer = pages.subscribe(None, form, visitor_of(first))
        assert answer.status == 200 and "Choose what you get" in answer.body
        assert 'value="daily" checked' in answer.body
        assert (
            '<option value="Europe/Paris"' in answer.body and 'value="UTC" selected' in answer.body
        )
        assert answer.after is None and smtp_sink.messages == []

    def test_a_malformed_address_stays_on_the_first_step(self, pages: PublicPages) -> None:
        """A bad address is named on the first step again, as a sentence, with status 400."""
        first = pages.subscribe_form(None, VISITOR)
        form = SubscribeForm("not-an-address", ["brief"], csrf=csrf_in(first), step="address")
        answer = pages.subscribe(None, form, visitor_of(first))
        assert answer.status == 400 and 'name="step" value="address"' in answer.body
        assert "Invalid e-mail address" in answer.body


class TestEveryPathEnds:
    async def test_preferences_after_unsubscribing_offer_to_subscribe_again(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """An ended subscription's page says so and offers "Subscribe again", never "Saved"."""
        subscribe_readers(app, ["reader@example.net"])
        token = token_for(app, Purpose.PREFERENCES, "reader@example.net")
        page = pages.unsubscribe_page(token_for(app, Purpose.UNSUBSCRIBE, "reader@example.net"))
        leave = UnsubscribeForm(csrf=csrf_in(page))
        await pages.unsubscribe(
            token_for(app, Purpose.UNSUBSCRIBE, "reader@example.net"), leave, VISITOR
        )
        shown = pages.preferences_page(token)
        assert "You are not subscribed" in shown.body and "Subscribe again" in shown.body
        saved = pages.save_preferences(token, PreferencesForm(csrf=csrf_in(shown)), VISITOR)
        assert "Saved." not in saved.body and "Subscribe again" in saved.body

    async def test_subscribing_again_needs_a_new_confirmation_even_within_the_hour(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """From the reader's own link, "Subscribe again" mails a new confirmation at once."""
        await subscribed(pages)  # a confirmation minutes ago: the hour has not passed
        confirm_token = token_in(smtp_sink, "confirm")
        await pages.confirm(confirm_token, csrf_in(pages.confirm_page(confirm_token)), VISITOR)
        leave = token_for(app, Purpose.UNSUBSCRIBE, "reader@example.net")
        page = pages.unsubscribe_page(leave)
        await pages.unsubscribe(leave, UnsubscribeForm(csrf=csrf_in(page)), VISITOR)
        token = token_for(app, Purpose.PREFERENCES, "reader@example.net")
        shown = pages.preferences_page(token)
        form = PreferencesForm(["models"], "weekly", "Asia/Tokyo", 9, csrf_in(shown))
        answer = pages.resubscribe(token, form, VISITOR)
        assert "Check your inbox" in answer.body
        await run_after(pages, answer)
        assert status_of(app, "reader@example.net") == SubscriptionStatus.PENDING
        subjects = [m.parsed()["Subject"] for m in smtp_sink.messages]
        assert [s.split(" ")[0] for s in subjects] == ["Confirm", "Welcome", "You", "Confirm"]
        again = token_in(smtp_sink, "confirm")
        await pages.confirm(again, csrf_in(pages.confirm_page(again)), VISITOR)
        assert status_of(app, "reader@example.net") == SubscriptionStatus.CONFIRMED
        with app.sessions() as session:
            row = session.scalars(select(Subscription)).one()
            assert (row.cadence, row.topics) == ("weekly", ("models",))

    async def test_subscribe_again_is_limited_per_link(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """A fourth "Subscribe again" within the hour gets "Too many requests" and no e-mail."""
        subscribe_readers(app, ["reader@example.net"])
        with app.sessions() as session:
            session.scalars(select(Subscription)).one().status = SubscriptionStatus.UNSUBSCRIBED
            session.commit()
        token = token_for(app, Purpose.PREFERENCES, "reader@example.net")
        csrf = csrf_in(pages.preferences_page(token))
        for _ in range(3):
            await run_after(pages, pages.resubscribe(token, PreferencesForm(csrf=csrf), VISITOR))
        fourth = pages.resubscribe(token, PreferencesForm(csrf=csrf), VISITOR)
        assert fourth.status == 429 and fourth.after is None
        assert len(smtp_sink.messages) == 3

    async def test_a_used_confirmation_link_says_already_confirmed(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """The second press of a confirmation link: "Already confirmed", with the preferences."""
        await subscribed(pages)
        token = token_in(smtp_sink, "confirm")
        page = pages.confirm_page(token)
        await pages.confirm(token, csrf_in(page), VISITOR)
        again = await pages.confirm(token, csrf_in(page), VISITOR)
        assert "Already confirmed" in again.body and "/preferences/" in again.body
        assert "Already confirmed" in pages.confirm_page(token).body

    async def test_five_quick_requests_send_one_confirmation(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """Five posts for one address within seconds: five "check your inbox", one e-mail."""
        for _ in range(5):
            answer = await subscribed(pages)
            assert "Check your inbox" in answer.body
        assert len(smtp_sink.messages) == 1

    async def test_the_hour_holds_across_processes(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """A second set of handlers (another process, or a restart) sends no second e-mail."""
        await subscribed(pages)
        other = dataclasses.replace(pages, per_person=RateLimiter(1, 3600), signups=Background())
        await subscribed(other)
        assert len(smtp_sink.messages) == 1

    async def test_a_failed_send_can_be_asked_again_at_once(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """When the relay is away, the hour is not taken: a request after it is back mails it."""
        away = SmtpPool(SmtpConfig(host="127.0.0.1", port=free_port(), timeout=2))
        broken = dataclasses.replace(pages.notices, transport=lambda: away)
        await subscribed(dataclasses.replace(pages, notices=broken))
        assert smtp_sink.messages == []
        other = dataclasses.replace(pages, per_person=RateLimiter(1, 3600), signups=Background())
        await subscribed(other)
        assert len(smtp_sink.messages) == 1


class TestWelcome:
    async def test_the_welcome_says_when_the_first_issue_comes(
        self, app: Briefmail, pages: PublicPages, smtp_sink: SmtpSink
    ) -> None:
        """Confirmed at 10:00 Berlin time with a 07:00 delivery: "tomorrow, … at 07:00"."""
        clock = lambda: dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)  # noqa: E731
        pages = dataclasses.replace(
            pages,
            clock=clock,
            latest_link=lambda _: ("Issue 12", "https://news.example.org/archive/12"),
        )
        first = pages.subscribe_form(None, VISITOR)
        form = SubscribeForm(
            "reader@example.net",
            ["brief"],
            timezone="Europe/Berlin",
            send_hour=7,
            csrf=csrf_in(first),
        )
        await run_after(pages, pages.subscribe(None, form, visitor_of(first)))
        token = token_in(smtp_sink, "confirm")
        await pages.confirm(token, csrf_in(pages.confirm_page(token)), VISITOR)
        text = smtp_sink.messages[-1].parsed().get_body(preferencelist=("plain",))
        assert text is not None
        words = " ".join(text.get_content().split())
        assert "tomorrow, Friday 4 December, at 07:00 (Berlin time)" in words
        assert "https://news.example.org/archive/12" in words and "Issue 12" in words
