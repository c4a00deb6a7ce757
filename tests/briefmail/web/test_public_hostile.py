"""The public form is no weapon and no oracle: hostile and odd subscribe requests, over ASGI.

Mail-bombing one person through spellings of their address, forged and cross-site posts,
telling known from unknown addresses by the page or by its timing, a form post that edits a
confirmed reader, an erased address brought back without its owner, addresses a relay without
SMTPUTF8 cannot take, and a spoofed X-Forwarded-For. Requests go through the real app (httpx's
ASGI transport), mail through a real aiosmtpd server, rows into a real database.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from briefmail.app import Briefmail
from briefmail.settings import (
    DatabaseSettings,
    NewsletterSettings,
    SmtpSettings,
    WebSettings,
    isolated_settings,
)
from briefmail.web import create_web
from mailer.testing import SmtpSink, free_port
from subscribers.lists import create_list, get_list
from subscribers.models import ConsentEvent, Subscriber, Subscription, SubscriptionStatus
from subscribers.service import erase, subscribe, suppression_of
from subscribers.signup import person_key
from tests.briefmail.web.test_public import (
    SITE,
    Client,
    confirm_by_button,
    csrf_of,
    link_in,
    subscribe_form,
    subscription_of,
)
from tests.conftest import subscribe_readers

MakeApp = Callable[..., Briefmail]


@pytest.fixture
def make_app(database_url: str, smtp_sink: SmtpSink) -> Iterator[MakeApp]:
    """Builds the test app with some settings changed (``smtp`` and ``web`` keywords)."""
    made: list[Briefmail] = []

    def build(*, smtputf8: bool = False, trusted_proxies: tuple[str, ...] = ()) -> Briefmail:
        settings = isolated_settings(
            newsletter=NewsletterSettings(
                name="Test Brief",
                **{"from": "Test Brief <brief@news.example.org>"},
                base_url=SITE,
                postal_address="1 Example Street, 10115 Berlin",
            ),
            database=DatabaseSettings(url=database_url),
            smtp=SmtpSettings(host=smtp_sink.host, port=smtp_sink.port, smtputf8=smtputf8),
            web=WebSettings.model_validate({"trusted_proxies": list(trusted_proxies)}),
            secret_key=SecretStr(secrets.token_urlsafe(32)),
        )
        app = Briefmail(settings)
        app.migrate()
        app.ensure_default_list()
        made.append(app)
        return app

    yield build
    for app in made:
        app.close()


@pytest.fixture
async def client(app: Briefmail) -> AsyncIterator[Client]:
    """A browser-like visitor of the test app."""
    async with Client(app) as c:
        yield c


def without_csrf(page: str) -> str:
    """A page with its (per-request) CSRF token blanked, to compare pages for equality."""
    return re.sub(r'name="csrf" value="[^"]+"', 'name="csrf" value=""', page)


def settings_of(app: Briefmail, email: str, slug: str = "brief") -> tuple[str, int, Any]:
    """Status, send hour and topics of an address's subscription to a list."""
    with app.sessions() as session:
        found = session.scalar(
            select(Subscription)
            .join(Subscriber)
            .where(Subscriber.email == email, Subscription.list_id == get_list(session, slug).id)
        )
        assert found is not None
        return str(found.status), found.send_hour, found.topics


def rows(app: Briefmail) -> tuple[int, int]:
    """How many subscribers and subscriptions the database holds."""
    with app.sessions() as session:
        people = session.scalar(select(func.count()).select_from(Subscriber)) or 0
        subscriptions = session.scalar(select(func.count()).select_from(Subscription)) or 0
        return people, subscriptions


class TestMailBomb:
    async def test_two_hundred_spellings_of_one_address_send_one_confirmation(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """200 posts from ten IPs, each another capitalisation of one address, mail it once."""
        web = create_web(app)
        local = "victim.person.example"
        spellings = {
            "".join(c.upper() if n >> i & 1 else c for i, c in enumerate(local))
            for n in range(1, 400)
        }
        chosen = sorted(spellings)[:200]
        assert len(chosen) == 200
        for ip in range(10):
            async with Client(web, ip=f"127.0.0.{ip + 1}") as client:
                for spelling in chosen[ip * 20 : ip * 20 + 20]:
                    response = await subscribe_form(client, email=f"{spelling}@Example.net")
                    assert response.status_code == 200
        assert len(smtp_sink.messages) == 1
        assert rows(app) == (1, 1)

    async def test_tags_and_gmail_dots_count_as_one_person(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """+tags and Gmail's dots are one person for the limit, though stored as typed."""
        for address in ("jane.doe@gmail.com", "janedoe+1@gmail.com", "J.a.n.e.Doe@googlemail.com"):
            assert (await subscribe_form(client, email=address)).status_code == 200
        assert smtp_sink.recipients() == ["jane.doe@gmail.com"]
        assert person_key("jane.doe@gmail.com") == person_key("JaneDoe+news@googlemail.com")
        assert person_key("a+x@example.org") == person_key("A@example.org")
        assert person_key("a.b@example.org") != person_key("ab@example.org")

    async def test_one_ip_gets_twenty_requests_an_hour(
        self, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """The 21st request from one IP within an hour is refused with 429, whatever address."""
        codes = [
            (await subscribe_form(client, email=f"r{n}@example.net")).status_code for n in range(21)
        ]
        assert codes == [200] * 20 + [429]
        assert len(smtp_sink.messages) == 20


class TestForgery:
    async def test_a_token_from_another_browser_is_refused(
        self, app: Briefmail, smtp_sink: SmtpSink
    ) -> None:
        """A form token copied out of one browser (cookie) is refused in another, or without."""
        web = create_web(app)
        async with Client(web, ip="198.51.100.1") as attacker, Client(web) as victim:
            token = csrf_of((await attacker.get("/subscribe")).text)
            await victim.get("/subscribe")  # the victim has a form cookie of their own
            data = {"email": "v@example.net", "lists": "brief", "csrf": token}
            refused = await victim.post("/subscribe", data=data)
            victim.cookies.clear()
            cookieless = await victim.post("/subscribe", data=data)
            await victim.settled()
        for response in (refused, cookieless):
            assert response.status_code == 400 and "Please try again" in response.text
        assert smtp_sink.messages == [] and rows(app) == (0, 0)

    @pytest.mark.parametrize(
        "headers",
        [
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": "http://news.example.org"},  # the site is https: another origin
            {"Sec-Fetch-Site": "cross-site", "Origin": SITE},
            {"Sec-Fetch-Site": "same-site"},
            {"Referer": "https://evil.example/page"},
            {},
        ],
    )
    async def test_a_post_from_another_site_is_refused(
        self, app: Briefmail, smtp_sink: SmtpSink, headers: dict[str, str]
    ) -> None:
        """A POST whose Fetch Metadata, Origin or Referer is not ours (or absent) is refused."""
        async with Client(app) as client:
            page = (await client.get("/subscribe")).text
            del client.headers["Origin"]
            response = await client.post(
                "/subscribe",
                data={"email": "v@example.net", "lists": "brief", "csrf": csrf_of(page)},
                headers=headers,
            )
            await client.settled()
        assert response.status_code == 400 and "Please try again" in response.text
        assert smtp_sink.messages == [] and rows(app) == (0, 0)

    @pytest.mark.parametrize(
        "headers",
        [{"Sec-Fetch-Site": "same-origin"}, {"Origin": SITE}, {"Referer": f"{SITE}/subscribe"}],
    )
    async def test_a_post_from_our_own_page_is_taken(
        self, app: Briefmail, smtp_sink: SmtpSink, headers: dict[str, str]
    ) -> None:
        """Our own page's POST passes by Fetch Metadata, by Origin, or by Referer alone."""
        async with Client(app) as client:
            page = (await client.get("/subscribe")).text
            del client.headers["Origin"]
            response = await client.post(
                "/subscribe",
                data={"email": "v@example.net", "lists": "brief", "csrf": csrf_of(page)},
                headers=headers,
            )
            await client.settled()
        assert response.status_code == 200 and "Check your inbox" in response.text
        assert smtp_sink.recipients() == ["v@example.net"]

    async def test_the_form_cookie_is_short_lived_and_kept_from_scripts(
        self, client: Client
    ) -> None:
        """The form cookie is __Host-, Secure, HttpOnly, SameSite=Lax and lives two hours."""
        cookie = (await client.get("/subscribe")).headers["set-cookie"]
        assert cookie.startswith("__Host-briefmail-form=")
        for part in ("HttpOnly", "Max-Age=7200", "Path=/", "SameSite=lax", "Secure"):
            assert part in cookie, part


class TestNoEnumeration:
    @pytest.mark.parametrize(
        "fields",
        [
            {},
            {"timezone": "Mars/Olympus"},
            {"send_hour": "99"},
            {"topics": ["no-such-topic"]},
            {"cadence": "hourly"},
        ],
    )
    async def test_known_and_unknown_addresses_get_the_same_page(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink, fields: dict[str, Any]
    ) -> None:
        """Valid or invalid fields, a confirmed address and an unknown one get the same page."""
        subscribe_readers(app, ["known@example.net"], topics=["policy"])
        known = await subscribe_form(client, email="known@example.net", **fields)
        unknown = await subscribe_form(client, email="unknown@example.net", **fields)
        assert known.status_code == unknown.status_code
        assert without_csrf(known.text) == without_csrf(
            unknown.text.replace("unknown@example.net", "known@example.net")
        )
        assert settings_of(app, "known@example.net") == ("confirmed", 7, ("policy",))
        assert "known@example.net" not in smtp_sink.recipients()

    def test_response_time_does_not_tell_known_from_unknown(
        self, make_app: MakeApp, smtp_sink: SmtpSink, tmp_path: Path
    ) -> None:
        """Over 100 interleaved pairs no threshold sorts known from unknown much beyond chance."""
        # The server runs in its own process, as in production: in this one, the work it does
        # after answering would share the interpreter with the client that times the answer.
        pairs = 100
        app = make_app()
        subscribe_readers(app, [f"known{n}@example.net" for n in range(pairs)])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        environment = {
            **os.environ,
            "BRIEFMAIL_SECRET_KEY": "k" * 32,
            "BRIEFMAIL_DATABASE__URL": app.settings.database.url,
            "BRIEFMAIL_SMTP__HOST": smtp_sink.host,
            "BRIEFMAIL_SMTP__PORT": str(smtp_sink.port),
            "BRIEFMAIL_NEWSLETTER__BASE_URL": base,
            # Each pair comes from its own address, so the per-IP limit stays out of it.
            "BRIEFMAIL_WEB__TRUSTED_PROXIES": '["127.0.0.1"]',
        }
        serve = ("serve", "--no-scheduler", "--port", str(port))
        log = (tmp_path / "serve.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-c", "from briefmail.cli import main; main()", *serve],
            cwd=tmp_path,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        known: list[float] = []
        unknown: list[float] = []
        try:
            with httpx.Client(base_url=base, headers={"Origin": base}) as client:
                wait_until_up(client, server)
                for n in range(-5, pairs):  # five warm-up pairs first, not measured
                    client.headers["X-Forwarded-For"] = f"10.1.{n % 200}.{n // 200 + 1}"
                    csrf = csrf_of(client.get("/subscribe").text)
                    order = [("known", known), ("other", unknown)]
                    for kind, times in order if n % 2 else order[::-1]:
                        data = {"email": f"{kind}{n}@example.net", "lists": "brief", "csrf": csrf}
                        start = time.perf_counter()
                        response = client.post("/subscribe", data=data)
                        elapsed = time.perf_counter() - start
                        assert response.status_code == 200 and "Check your inbox" in response.text
                        # Let the work after the answer end before the next request is timed.
                        if kind == "other":
                            wait_for_mail(smtp_sink, f"other{n}@example.net")
                        time.sleep(0.03)
                        if n >= 0:
                            times.append(elapsed)
        finally:
            server.terminate()
            server.wait(timeout=10)
            log.close()
        assert len(known) == len(unknown) == pairs
        assert best_threshold_accuracy(known, unknown) <= 0.7
        assert not set(smtp_sink.recipients()) & {f"known{n}@example.net" for n in range(pairs)}


def wait_until_up(client: httpx.Client, server: subprocess.Popen[str]) -> None:
    """Wait (at most 20 s) until the served app answers."""
    deadline = time.monotonic() + 20
    while True:
        assert server.poll() is None, "briefmail serve exited"
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "briefmail serve did not start"
        time.sleep(0.1)


def wait_for_mail(sink: SmtpSink, address: str) -> None:
    """Wait (at most 10 s) until the sink holds a message to ``address``."""
    deadline = time.monotonic() + 10
    while address not in sink.recipients():
        assert time.monotonic() < deadline, f"no mail to {address}"
        time.sleep(0.005)


def best_threshold_accuracy(a: list[float], b: list[float]) -> float:
    """How well the best single cut-off sorts samples into ``a`` and ``b`` (0.5 is chance)."""
    labelled = sorted([(t, 0) for t in a] + [(t, 1) for t in b])
    total, best = len(labelled), 0.5
    below_a = below_b = 0
    for _, label in labelled:
        below_a += label == 0
        below_b += label == 1
        # "a if below the cut" is right for below_a + (len(b) - below_b) samples; or the reverse.
        right = below_a + (len(b) - below_b)
        best = max(best, right / total, (total - right) / total)
    return best


class TestConfirmedReaders:
    async def test_a_post_never_changes_a_confirmed_readers_settings(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """A post for another list or the same one leaves zone, hour and topics as they were."""
        with app.sessions() as session:
            create_list(session, "ict", "ICT Bulletin", "ICT <ict@news.example.org>")
            subscribe(
                session,
                get_list(session, "brief"),
                "reader@example.net",
                taxonomy=app.taxonomy,
                topics=["chips"],
                timezone="Asia/Tokyo",
                send_hour=6,
                confirmed=True,
            )
            session.commit()
        changes = {"timezone": "America/New_York", "send_hour": "20", "topics": ["policy"]}
        await subscribe_form(client, lists="brief", **changes)
        assert smtp_sink.messages == []
        await subscribe_form(client, lists="ict", **changes)
        assert settings_of(app, "reader@example.net") == ("confirmed", 6, ("chips",))
        assert settings_of(app, "reader@example.net", "ict") == ("pending", 20, ("policy",))
        with app.sessions() as session:
            person = session.scalar(select(Subscriber))
            assert person is not None and person.timezone == "Asia/Tokyo"
        assert smtp_sink.recipients() == ["reader@example.net"]

    async def test_an_erased_address_returns_only_by_a_posted_confirmation(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """After erasure a form post and any GETs of its link leave the address suppressed."""
        subscribe_readers(app, ["gone@example.net"])
        with app.sessions() as session:
            erase(session, "gone@example.net")
            session.commit()
        await subscribe_form(client, email="gone@example.net")
        path = link_in(smtp_sink, "confirm")
        for _ in range(3):  # a link scanner
            assert (await client.get(path)).status_code == 200
        with app.sessions() as session:
            assert suppression_of(session, "gone@example.net") is not None
        assert subscription_of(app, "gone@example.net").status == SubscriptionStatus.PENDING
        assert (await confirm_by_button(client, path)).status_code == 200
        with app.sessions() as session:
            assert suppression_of(session, "gone@example.net") is None
        assert subscription_of(app, "gone@example.net").status == SubscriptionStatus.CONFIRMED


class TestAddresses:
    async def test_a_non_ascii_local_part_is_refused_without_smtputf8(
        self, make_app: MakeApp, smtp_sink: SmtpSink
    ) -> None:
        """ü@example.org gets the form again with why, never a 500, and nothing is stored."""
        app = make_app()
        async with Client(app) as client:
            response = await subscribe_form(client, email="ü@example.org")
        assert response.status_code == 400 and "outside ASCII" in response.text
        assert rows(app) == (0, 0) and smtp_sink.messages == []

    async def test_a_non_ascii_local_part_is_taken_with_smtputf8(self, make_app: MakeApp) -> None:
        """With smtp.smtputf8 the same address is taken and waits for its confirmation."""
        app = make_app(smtputf8=True)
        async with Client(app) as client:
            response = await subscribe_form(client, email="ü@example.org")
        assert response.status_code == 200
        assert subscription_of(app, "ü@example.org").status == SubscriptionStatus.PENDING

    @pytest.mark.parametrize("address", ["user@bücher.de", "user@xn--bcher-kva.de"])
    async def test_an_idn_domain_is_always_taken(self, make_app: MakeApp, address: str) -> None:
        """An IDN domain, in Unicode or as A-labels, needs no SMTPUTF8 and is stored as one."""
        app = make_app()
        async with Client(app) as client:
            assert (await subscribe_form(client, email=address)).status_code == 200
        assert subscription_of(app, "user@bücher.de").status == SubscriptionStatus.PENDING


class TestForwardedFor:
    async def test_x_forwarded_for_is_ignored_by_default(
        self, make_app: MakeApp, smtp_sink: SmtpSink
    ) -> None:
        """From an untrusted peer, X-Forwarded-For changes neither the limit nor the record."""
        app = make_app()
        async with Client(app, ip="127.0.0.1") as client:
            codes = []
            for n in range(21):
                client.headers["X-Forwarded-For"] = f"192.0.2.{n + 1}"
                codes.append((await subscribe_form(client, email=f"r{n}@example.net")).status_code)
        assert codes == [200] * 20 + [429]
        with app.sessions() as session:
            assert set(session.scalars(select(ConsentEvent.ip))) == {"127.0.0.1"}

    async def test_x_forwarded_for_names_the_client_behind_a_trusted_proxy(
        self, make_app: MakeApp, smtp_sink: SmtpSink
    ) -> None:
        """Behind a trusted proxy the nearest untrusted hop counts and is recorded."""
        app = make_app(trusted_proxies=("127.0.0.0/8", "10.0.0.0/8"))
        async with Client(app, ip="127.0.0.1") as client:
            codes = []
            for n in range(21):
                # The client wrote the first hop itself; our proxies appended the rest.
                hops = f"203.0.113.99, 192.0.2.{n + 1}, 10.1.2.3"
                client.headers["X-Forwarded-For"] = hops
                codes.append((await subscribe_form(client, email=f"r{n}@example.net")).status_code)
        assert codes == [200] * 21
        with app.sessions() as session:
            ips = set(session.scalars(select(ConsentEvent.ip)))
        assert ips == {f"192.0.2.{n + 1}" for n in range(21)}
