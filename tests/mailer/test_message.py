"""MIME assembly: list headers on every message, valid MIME, no header injection."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from email import message_from_bytes, policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.dkim import DkimSigner, canonical_body, generate_key
from mailer.message import (
    AddressNotUsable,
    ListHeaders,
    MessageTemplate,
    _quoted_printable,
    _quoted_printable_line,
    build_message,
    display_name,
    domain_of,
    wire_address,
)
from mailer.render import Rendered, Slot

RENDERED = Rendered("Brief — 1 July · “quotes” 中文", "preview", "<p>Hello</p>", "Hello")
HEADERS = ListHeaders(
    list_id="Test Brief <brief.news.example.org>",
    unsubscribe_url="https://news.example.org/unsubscribe/tok",
    unsubscribe_mailto="mailto:unsubscribe@news.example.org?subject=unsubscribe%20tok",
    feedback_id="run1:brief:daily:briefmail",
)


def build(rendered: Rendered = RENDERED, to: str = "reader@example.net") -> bytes:
    return build_message(
        rendered,
        sender="Test Brief <brief@news.example.org>",
        to=to,
        list_headers=HEADERS,
        return_path="bounces+7@news.example.org",
        message_id="<1.7.abc@news.example.org>",
        date=dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC),
    ).data


class TestBuildMessage:
    def test_a_message_without_a_date_is_dated_now(self) -> None:
        """Without a date the Date header says now, to the second (formatted once a second)."""
        before = dt.datetime.now(dt.UTC).replace(microsecond=0)
        data = build_message(
            RENDERED,
            sender="Test Brief <brief@news.example.org>",
            to="reader@example.net",
            list_headers=HEADERS,
            return_path="bounces+7@news.example.org",
            message_id="<1.7.abc@news.example.org>",
        ).data
        after = dt.datetime.now(dt.UTC)
        dated = message_from_bytes(data, policy=policy.default)["Date"].datetime
        assert before <= dated <= after

    def test_every_required_header_is_present(self) -> None:
        """A list message carries From, To, Subject, Date, Message-ID and the list headers."""
        msg = message_from_bytes(build(), policy=policy.default)
        assert msg["From"] == "Test Brief <brief@news.example.org>"
        assert msg["To"] == "reader@example.net"
        assert msg["Subject"] == RENDERED.subject
        assert msg["Date"] == "Wed, 01 Jul 2026 07:00:00 +0000"
        assert msg["Message-ID"] == "<1.7.abc@news.example.org>"
        assert msg["List-Id"] == HEADERS.list_id
        assert msg["List-Unsubscribe"] == (
            "<https://news.example.org/unsubscribe/tok>, "
            "<mailto:unsubscribe@news.example.org?subject=unsubscribe%20tok>"
        )
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["Precedence"] == "bulk"
        assert msg["Feedback-ID"] == "run1:brief:daily:briefmail"

    def test_valid_multipart_alternative_without_defects(self) -> None:
        """The stdlib parser finds text then HTML, no defects, and each header once."""
        data = build()
        msg = message_from_bytes(data, policy=policy.default)
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert all(not part.defects for part in msg.walk())
        assert data.count(b"\nMIME-Version:") + data.startswith(b"MIME-Version:") == 1
        assert b"\r\n" in data
        assert b"\n" not in data.replace(b"\r\n", b"")

    def test_non_ascii_subject_is_encoded(self) -> None:
        """A non-ASCII subject is RFC 2047 encoded on the wire and decodes back exactly."""
        data = build()
        assert "中文".encode() not in data.split(b"\r\n\r\n", 1)[0]
        assert message_from_bytes(data, policy=policy.default)["Subject"] == RENDERED.subject

    @pytest.mark.parametrize("field", ["subject", "to"])
    def test_header_injection_is_impossible(self, field: str) -> None:
        """CR/LF inside a header value is refused instead of starting a new header."""
        evil = "x\r\nBcc: victim@example.org"
        rendered = Rendered(evil, "", "<p>x</p>", "x") if field == "subject" else RENDERED
        to = evil if field == "to" else "reader@example.net"
        with pytest.raises(ValueError, match="linefeed|carriage|newline|invalid|line break"):
            build(rendered, to=to)


class TestWireAddress:
    def test_an_idn_domain_goes_out_as_its_a_label(self) -> None:
        """bücher.de is written xn--bcher-kva.de in the envelope and in To; no SMTPUTF8."""
        assert wire_address("user@bücher.de") == ("user@xn--bcher-kva.de", False)
        assert wire_address("user@xn--bcher-kva.de") == ("user@xn--bcher-kva.de", False)
        data = build(to="user@bücher.de")
        assert b"\r\nTo: user@xn--bcher-kva.de\r\n" in b"\r\n" + data

    def test_a_non_ascii_local_part_needs_smtputf8(self) -> None:
        """ü@example.org stays as it is and asks for SMTPUTF8; its To header is UTF-8."""
        assert wire_address("ü@bücher.de") == ("ü@xn--bcher-kva.de", True)
        template = MessageTemplate(RENDERED, sender="Brief <b@news.example.org>")
        message = template.fill(to="ü@example.org", message_id="<1@x>", return_path="b@x.org")
        assert message.smtputf8 and message.rcpt_to == "ü@example.org"
        assert "To: ü@example.org\r\n".encode() in message.data

    @pytest.mark.parametrize(
        "address", ["no-at-sign", "user@☃.example", "a\u2028b@example.org", "a@exa\rmple.org"]
    )
    def test_an_address_that_cannot_go_on_the_wire_is_refused(self, address: str) -> None:
        """No @, a domain that is no valid IDN, a line break or control: AddressNotUsable."""
        with pytest.raises(AddressNotUsable):
            wire_address(address)


class TestTransactional:
    def confirmation(self) -> bytes:
        headers = ListHeaders(
            list_id=HEADERS.list_id,
            unsubscribe_url=None,
            unsubscribe_mailto=None,
            feedback_id="confirm:brief:notice:briefmail",
        )
        return build_message(
            RENDERED,
            sender="Test Brief <brief@news.example.org>",
            to="reader@example.net",
            list_headers=headers,
            return_path="bounces@news.example.org",
            message_id="<c@news.example.org>",
        ).data

    def test_a_confirmation_names_its_list_but_offers_no_unsubscribe(self) -> None:
        """Without an unsubscribe URL a list message has List-Id and Feedback-ID, not bulk."""
        msg = message_from_bytes(self.confirmation(), policy=policy.default)
        assert msg["List-Id"] == HEADERS.list_id
        assert msg["Feedback-ID"] == "confirm:brief:notice:briefmail"
        assert msg["Auto-Submitted"] == "auto-generated"
        for absent in ("List-Unsubscribe", "List-Unsubscribe-Post", "Precedence"):
            assert absent not in msg, absent

    def test_a_list_message_is_bulk_and_not_auto_submitted(self) -> None:
        """A list message with an unsubscribe URL is Precedence: bulk, without Auto-Submitted."""
        msg = message_from_bytes(build(), policy=policy.default)
        assert msg["Precedence"] == "bulk" and "Auto-Submitted" not in msg

    def test_a_transactional_template_refuses_an_unsubscribe_url(self) -> None:
        """Filling a transactional template with a List-Unsubscribe URL is an error, not ignored."""
        template = MessageTemplate(
            RENDERED, sender="a@news.example.org", list_id=HEADERS.list_id, transactional=True
        )
        with pytest.raises(ValueError, match="carries no List-Unsubscribe"):
            template.fill(
                to="r@example.net",
                message_id="<m@x>",
                return_path="b@x",
                unsubscribe_url=HEADERS.unsubscribe_url,
            )


class TestAddresses:
    def test_domain_and_display_name(self) -> None:
        """Domains are lowercased and display names are read from full addresses."""
        assert domain_of("Brief <Brief@News.Example.ORG>") == "news.example.org"
        assert display_name("China AI Brief <brief@example.org>") == "China AI Brief"
        with pytest.raises(ValueError, match="no domain"):
            domain_of("nobody")


class TestTemplate:
    def test_a_filled_template_equals_a_full_build(self) -> None:
        """Filling the variant's template gives byte-for-byte what build_message gives."""
        from mailer.message import MessageTemplate
        from mailer.render import Slot

        rendered = Rendered(
            "Subject",
            "pre",
            '<p>Hi <a href="briefmail-slot-unsubscribe-url">x</a></p>',
            "Hi briefmail-slot-unsubscribe-url",
        )
        date = dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)
        slots = {
            Slot.UNSUBSCRIBE_URL: "https://news.example.org/u/t?a=1&b=2",
            Slot.PREFERENCES_URL: "https://news.example.org/p/t",
        }
        template = MessageTemplate(
            rendered,
            sender="Test Brief <brief@news.example.org>",
            list_id=HEADERS.list_id,
            feedback_id=HEADERS.feedback_id,
        )
        for to in ("a@example.net", "b@example.net"):
            filled = template.fill(
                to=to,
                message_id="<m@x>",
                return_path="b@x",
                slots=slots,
                date=date,
                unsubscribe_url=HEADERS.unsubscribe_url,
                unsubscribe_mailto=HEADERS.unsubscribe_mailto,
            )
            full = build_message(
                rendered.fill(slots),
                sender="Test Brief <brief@news.example.org>",
                to=to,
                list_headers=HEADERS,
                return_path="b@x",
                message_id="<m@x>",
                date=date,
            )
            assert filled.data.replace(template.boundary.encode(), b"B") == full.data.replace(
                MessageTemplate(rendered.fill(slots), sender="x@y.z").boundary.encode(), b"B"
            )
            parsed = message_from_bytes(filled.data, policy=policy.default)
            assert all(not part.defects for part in parsed.walk())
            html = parsed.get_body(preferencelist=("html",))
            assert html is not None
            assert 'href="https://news.example.org/u/t?a=1&amp;b=2"' in html.get_content()

    def test_a_message_signed_elsewhere_equals_one_signed_here(self) -> None:
        """`fill_unsigned` + a signature of its digest is `fill`, byte for byte, and verifies.

        A message without DKIM has nothing pending, and asking to sign it is an error.
        """
        from mailer.message import MessageTemplate
        from tests.mailer.test_dkim import verify

        signer = DkimSigner.from_pem("news.example.org", "s", generate_key("rsa"))
        fields = dict(
            to="r@example.net",
            message_id="<m@x>",
            return_path="b@x",
            date=dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC),
        )
        template = MessageTemplate(RENDERED, sender="a@news.example.org", dkim=signer)
        unsigned = template.fill_unsigned(**fields)  # type: ignore[arg-type]
        assert unsigned.pending is not None
        message = unsigned.signed(signer.sign_digest(unsigned.pending.digest))
        here = template.fill(**fields)  # type: ignore[arg-type]
        # Only t= (the second it was signed) may differ between the two.
        assert (
            message.data.replace(b"\r\n\t", b"").split(b"t=")[0]
            == (here.data.replace(b"\r\n\t", b"").split(b"t=")[0])
        )
        assert message.data.endswith(unsigned.message.data)
        assert verify(message.data, signer)
        bare = MessageTemplate(RENDERED, sender="a@news.example.org").fill_unsigned(**fields)  # type: ignore[arg-type]
        assert bare.pending is None
        with pytest.raises(ValueError, match="not DKIM-signed"):
            bare.signed(b"x")

    @given(
        lines=st.lists(
            st.tuples(
                st.text(alphabet=st.sampled_from('ab =\t.中<>&"é'), max_size=120),
                st.sampled_from([None, *Slot]),
            ),
            max_size=12,
        ),
        value=st.text(alphabet=st.sampled_from("az09-_.~/:?=&"), min_size=1, max_size=150),
    )
    def test_per_line_encoding_and_body_hash_equal_the_whole_body(
        self, lines: list[tuple[str, Slot | None]], value: str
    ) -> None:
        """Encoding and DKIM-hashing a variant in pieces equals doing it to the filled body.

        Slots anywhere in a line, long lines that quoted-printable must break, trailing blanks,
        non-ASCII and markup characters: the filled template's body is byte-for-byte the
        encoding of the whole filled text, and its DKIM bh= is the hash of that whole body.
        """
        text = "\n".join(line + (slot.value if slot else "") for line, slot in lines)
        rendered = Rendered("S", "p", text, text)
        slots = {slot: f"https://x.example/{slot.name}/{value}" for slot in Slot}
        signer = DkimSigner.from_pem("news.example.org", "s", generate_key("ed25519"))
        filled = MessageTemplate(rendered, sender="a@news.example.org", dkim=signer).fill(
            to="r@example.net", message_id="<m@x>", return_path="b@x", slots=slots
        )
        whole = rendered.fill(slots)
        signature = filled.data.split(b"\r\nTo:", 1)[0]
        body = filled.data.split(b"\r\n\r\n", 1)[1]
        text_part, html_part = (
            part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
            for part in body.split(b"--==briefmail-")[1:3]
        )
        assert text_part == _quoted_printable(whole.text)
        assert html_part == _quoted_printable(whole.html)
        expected = base64.b64encode(hashlib.sha256(canonical_body(body)).digest()).decode()
        assert f"bh={expected};" in signature.decode().replace("\r\n\t", "")

    @given(
        st.text(alphabet=st.sampled_from('ab=" /.:-_?&<>é\t'), max_size=400) | st.text(max_size=200)
    )
    def test_a_personal_line_is_encoded_as_the_stdlib_encodes_it(self, line: str) -> None:
        """The fast encoding of one line (each reader's links) is the stdlib's, byte for byte.

        Soft breaks never split an "=3D", a final space is quoted where the stdlib quotes it,
        and lines that are not printable ASCII (tabs, accents) take the stdlib's own path.
        """
        assert _quoted_printable_line(line.replace("\n", " ")) == _quoted_printable(
            line.replace("\n", " ")
        )

    def test_quoted_printable_lines_stay_short(self) -> None:
        """Every line of a 40 KB HTML part stays within quoted-printable's 76 characters."""
        long_html = "<p>" + "中文 and text " * 3000 + "</p>"
        data = build(Rendered("S", "p", long_html, "t " * 5000))
        assert max(len(line) for line in data.split(b"\r\n")) <= 998
        body = data.split(b"\r\n\r\n", 1)[1]
        assert max(len(line) for line in body.split(b"\r\n")) <= 76
