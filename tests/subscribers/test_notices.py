"""Notices (confirm, welcome, goodbye) are list messages signed like newsletters.

Each notice is produced by the real web app (httpx's ASGI transport), sent over SMTP to a real
aiosmtpd server, and the bytes that server received are verified with dkimpy, with DNS answered
from the configured key's own public half.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlparse

import pytest
from pydantic import SecretStr

from briefmail.app import Briefmail
from briefmail.settings import (
    DatabaseSettings,
    DkimSettings,
    NewsletterSettings,
    SmtpSettings,
    isolated_settings,
)
from mailer.dkim import OVERSIGNED_HEADERS, SIGNED_HEADERS, DkimSigner, generate_key
from mailer.render import Newsletter, Notice, Renderer
from mailer.testing import CapturedMessage, MemoryTransport, SmtpSink
from subscribers.lists import get_list
from subscribers.models import SubscriptionStatus
from subscribers.notices import Notices
from tests.briefmail.web.test_public import (
    Client,
    confirm_by_button,
    csrf_of,
    link_in,
    subscribe_form,
    subscription_of,
)
from tests.mailer.test_dkim import signed_names, verify


@pytest.fixture(params=["rsa", "ed25519"])
def signed_app(
    request: pytest.FixtureRequest, database_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> Iterator[Briefmail]:
    """A migrated Briefmail with a DKIM key for its From domain, sending to the SMTP sink."""
    key_file = tmp_path / "dkim.key"
    key_file.write_bytes(generate_key(request.param))
    settings = isolated_settings(
        newsletter=NewsletterSettings(
            name="Test Brief",
            **{"from": "Test Brief <brief@news.example.org>"},
            base_url="https://news.example.org",
            postal_address="1 Example Street, 10115 Berlin",
        ),
        database=DatabaseSettings(url=database_url),
        smtp=SmtpSettings(host=smtp_sink.host, port=smtp_sink.port),
        dkim=DkimSettings(domain="news.example.org", selector="brief", key_file=key_file),
        secret_key=SecretStr(secrets.token_urlsafe(32)),
    )
    app = Briefmail(settings)
    app.migrate()
    app.ensure_default_list()
    yield app
    app.close()


@pytest.fixture
async def client(signed_app: Briefmail) -> AsyncIterator[Client]:
    async with Client(signed_app) as c:
        yield c


async def journey(client: Client, sink: SmtpSink) -> list[CapturedMessage]:
    """Subscribe, confirm by the button and unsubscribe by the page: the three notices."""
    await subscribe_form(client)
    await confirm_by_button(client, link_in(sink, "confirm"))
    path = link_in(sink, "unsubscribe")
    page = (await client.get(path)).text
    await client.post(path, data={"csrf": csrf_of(page)})
    return sink.messages


def signer_of(app: Briefmail) -> DkimSigner:
    signer = app.dkim
    assert signer is not None
    return signer


class TestSignedNotices:
    async def test_every_notice_verifies_with_dkimpy_after_smtp(
        self, signed_app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """Confirm, welcome and goodbye, as the SMTP server received them, verify with dkimpy."""
        messages = await journey(client, smtp_sink)
        assert [m.parsed()["Subject"] for m in messages] == [
            "Confirm your subscription to Test Brief",
            "Welcome to Test Brief",
            "You have unsubscribed from Test Brief",
        ]
        signer = signer_of(signed_app)
        for message in messages:
            assert message.data.startswith(b"DKIM-Signature: v=1; a=" + signer.algorithm.encode())
            assert b"d=news.example.org; s=brief;" in message.data
            assert verify(message.data, signer), message.parsed()["Subject"]
            assert signed_names(message.data) == SIGNED_HEADERS + OVERSIGNED_HEADERS

    async def test_a_subject_added_in_transit_breaks_a_notice_signature(
        self, signed_app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """A second Subject put above a received confirmation (over-signing) fails dkimpy."""
        await subscribe_form(client)
        received = smtp_sink.messages[-1].data
        signer = signer_of(signed_app)
        assert verify(received, signer)
        assert not verify(b"Subject: Your account is locked\r\n" + received, signer)
        head, _, body = received.partition(b"\r\n\r\n")
        assert not verify(head + b"\r\nSubject: Your account is locked\r\n\r\n" + body, signer)


class TestNoticeHeaders:
    async def test_the_confirmation_is_transactional(
        self, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """The confirmation names its list and feedback id, offers no unsubscribe, is not bulk."""
        await subscribe_form(client)
        (message,) = smtp_sink.messages
        parsed = message.parsed()
        assert parsed["List-Id"] == "Test Brief <brief.news.example.org>"
        assert parsed["Feedback-ID"] == "confirm:brief:notice:briefmail"
        assert parsed["Auto-Submitted"] == "auto-generated"
        for absent in ("List-Unsubscribe", "List-Unsubscribe-Post", "Precedence"):
            assert absent not in parsed, absent
        self.assert_identity(parsed)
        assert message.mail_from == "bounces@news.example.org"

    async def test_welcome_and_goodbye_carry_one_click_unsubscribe(
        self, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """Welcome and goodbye are bulk list messages with https and mailto List-Unsubscribe."""
        _, welcome, goodbye = [m.parsed() for m in await journey(client, smtp_sink)]
        for kind, parsed in (("welcome", welcome), ("goodbye", goodbye)):
            assert parsed["List-Id"] == "Test Brief <brief.news.example.org>"
            assert parsed["Feedback-ID"] == f"{kind}:brief:notice:briefmail"
            assert parsed["Precedence"] == "bulk" and "Auto-Submitted" not in parsed
            assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert re.fullmatch(
                r"<https://news\.example\.org/unsubscribe/[^>]+>, "
                r"<mailto:unsubscribe@news\.example\.org\?subject=unsubscribe%20[^>]+>",
                parsed["List-Unsubscribe"],
            ), parsed["List-Unsubscribe"]
            self.assert_identity(parsed)

    async def test_the_welcome_one_click_header_unsubscribes(
        self, signed_app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """RFC 8058: a One-Click POST to the welcome's List-Unsubscribe URL unsubscribes."""
        await subscribe_form(client)
        await confirm_by_button(client, link_in(smtp_sink, "confirm"))
        url = re.search(r"<(https://[^>]+)>", smtp_sink.messages[-1].parsed()["List-Unsubscribe"])
        assert url is not None
        response = await client.post(
            urlparse(url.group(1)).path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        unsubscribed = subscription_of(signed_app, "reader@example.net")
        assert unsubscribed.status == SubscriptionStatus.UNSUBSCRIBED

    @staticmethod
    def assert_identity(parsed: EmailMessage) -> None:
        """From, To, Date and a Message-ID on the sending domain, each once."""
        assert parsed["From"] == "Test Brief <brief@news.example.org>"
        assert parsed["To"] == "reader@example.net"
        assert parsed["Date"] is not None
        assert re.fullmatch(
            r"<(confirm|welcome|goodbye)\.[0-9a-f]{24}@news\.example\.org>", parsed["Message-ID"]
        )
        for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
            assert len(parsed.get_all(name, [])) == 1, name


class TestNoticesBuild:
    def test_only_the_confirmation_goes_without_unsubscribe(self, signed_app: Briefmail) -> None:
        """A confirm with an unsubscribe URL, or a welcome or goodbye without one, is refused."""
        with signed_app.sessions() as session:
            newsletter = get_list(session, "brief")
        notices = Notices(
            Renderer(signed_app.taxonomy),
            lambda row: Newsletter(row.name, row.name),
            MemoryTransport,
            signed_app.dkim,
        )
        url = "https://news.example.org/unsubscribe/tok"
        with pytest.raises(ValueError, match="a confirm notice has no unsubscribe URL"):
            notices.build(
                newsletter, "r@example.net", "confirm", action_url=url, unsubscribe_url=url
            )
        kinds: tuple[Notice, ...] = ("welcome", "goodbye")
        for kind in kinds:
            with pytest.raises(ValueError, match=f"a {kind} notice needs an unsubscribe URL"):
                notices.build(newsletter, "r@example.net", kind, action_url=url)
        built = notices.build(
            newsletter, "r@example.net", "welcome", action_url=url, unsubscribe_url=url
        )
        assert verify(built.data, signer_of(signed_app))
