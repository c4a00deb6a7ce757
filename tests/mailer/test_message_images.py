"""A message with the list's logo: its HTML is multipart/related, the logo a cid: part, signed."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

import mailer.message
from mailer.dkim import DkimSigner, generate_key
from mailer.message import MessageTemplate, OutgoingMessage, Slot, inline_size
from mailer.render import Rendered, Renderer
from mailer.topics import default_taxonomy
from tests.mailer.cases import ARCHIVE_URL, BRAND, BRANDED, issues, tiny_logo
from tests.mailer.test_dkim import verify
from tests.mailer.test_message import HEADERS

LOGO = tiny_logo()
RENDERED = Rendered(
    "Brief — 1 July",
    "preview",
    f'<img src="cid:{LOGO.cid}" alt="Example Press" width="120" height="40">'
    '<p><a href="briefmail-slot-unsubscribe-url">Unsubscribe</a></p>',
    "Hello briefmail-slot-unsubscribe-url",
    inline_images=(LOGO,),
)
SLOTS = {
    Slot.UNSUBSCRIBE_URL: "https://news.example.org/u/tok",
    Slot.PREFERENCES_URL: "https://news.example.org/p/tok",
}


def template(rendered: Rendered = RENDERED, dkim: DkimSigner | None = None) -> MessageTemplate:
    return MessageTemplate(
        rendered,
        sender="Test Brief <brief@news.example.org>",
        list_id=HEADERS.list_id,
        feedback_id=HEADERS.feedback_id,
        dkim=dkim,
    )


def fill(made: MessageTemplate, to: str = "reader@example.net") -> OutgoingMessage:
    return made.fill(
        to=to,
        message_id="<m@news.example.org>",
        return_path="bounces@news.example.org",
        slots=SLOTS,
        unsubscribe_url=HEADERS.unsubscribe_url,
        date=dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC),
    )


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


class TestStructure:
    def test_the_html_and_its_logo_are_one_related_alternative(self) -> None:
        """alternative [text/plain, related [text/html, image/png]], without parser defects."""
        message = parsed(fill(template()).data)
        assert message.get_content_type() == "multipart/alternative"
        text, related = message.iter_parts()
        assert text.get_content_type() == "text/plain"
        assert related.get_content_type() == "multipart/related"
        assert related.get_param("type") == "text/html"
        assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/png"]
        assert all(not part.defects for part in message.walk())

    def test_the_image_part_is_the_logo_by_its_content_id(self) -> None:
        """The image is base64, shown inline, with the Content-ID the HTML's cid: names."""
        message = parsed(fill(template()).data)
        html, image = list(message.iter_parts())[1].iter_parts()
        assert image["Content-ID"] == f"<{LOGO.cid}>"
        assert image["Content-Transfer-Encoding"] == "base64"
        assert image.get_content_disposition() == "inline"
        assert image.get_content() == LOGO.data
        assert f'src="cid:{LOGO.cid}"' in html.get_content()
        assert 'href="https://news.example.org/u/tok"' in html.get_content()

    def test_without_images_the_html_is_a_plain_alternative(self) -> None:
        """A list without a logo sends text and HTML only, as before."""
        rendered = Rendered("S", "p", "<p>Hi</p>", "Hi")
        message = parsed(fill(template(rendered)).data)
        parts = [p.get_content_type() for p in message.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert b"multipart/related" not in fill(template(rendered)).data

    def test_a_rendered_issue_carries_its_logo_into_the_message(self) -> None:
        """The renderer's inline images reach the message: the logo the masthead refers to."""
        taxonomy = default_taxonomy()
        issue = issues(taxonomy)["brief"]
        rendered = Renderer(taxonomy).render_issue(
            issue, issue.stories, BRANDED, topics=[], cadence="daily", archive_url=ARCHIVE_URL
        )
        message = parsed(fill(template(rendered)).data)
        html, image = list(message.iter_parts())[1].iter_parts()
        assert BRAND.logo is not None and image.get_content() == BRAND.logo.data
        assert f'src="cid:{BRAND.logo.cid}"' in html.get_content()


class TestOncePerVariant:
    def test_the_image_is_encoded_once_per_template(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Building the variant encodes the image; each recipient's copy reuses those bytes."""
        calls: list[str] = []
        original = mailer.message._image_part

        def counted(image: object) -> bytes:
            calls.append("encoded")
            return original(image)  # type: ignore[arg-type]

        monkeypatch.setattr(mailer.message, "_image_part", counted)
        made = template()
        copies = [fill(made, f"r{n}@example.net") for n in range(3)]
        assert calls == ["encoded"]
        images = {
            list(list(parsed(c.data).iter_parts())[1].iter_parts())[1].as_bytes() for c in copies
        }
        assert len(images) == 1

    def test_the_budget_counts_the_image_as_sent(self) -> None:
        """inline_size is at least what the image part and its related frame add to a message."""
        for logo in (LOGO, tiny_logo(150, 50, noise=True)):
            bare = Rendered("S", "p", "<p>x</p>", "x")
            with_logo = Rendered("S", "p", "<p>x</p>", "x", inline_images=(logo,))
            added = len(fill(template(with_logo)).data) - len(fill(template(bare)).data)
            assert 0 < added <= inline_size((logo,)) < added + 600


class TestDkim:
    @pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
    def test_dkimpy_verifies_a_message_with_a_logo(self, algorithm: str) -> None:
        """The signature over a multipart/related body verifies, for every recipient's copy."""
        signer = DkimSigner.from_pem("news.example.org", "brief", generate_key(algorithm))
        made = template(dkim=signer)
        for to in ("a@example.net", "b@example.net"):
            assert verify(fill(made, to).data, signer)

    def test_a_changed_image_breaks_the_signature(self) -> None:
        """The logo's bytes are covered by the body hash: altering one line fails verification."""
        signer = DkimSigner.from_pem("news.example.org", "brief", generate_key("ed25519"))
        data = fill(template(dkim=signer)).data
        body_at = data.index(b"Content-ID:")
        line_end = data.index(b"\r\n\r\n", body_at) + 4
        tampered = data[:line_end] + b"A" + data[line_end + 1 :]
        assert verify(data, signer) and not verify(tampered, signer)
