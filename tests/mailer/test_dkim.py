"""DKIM: signatures made with cryptography verify with dkimpy; tampering breaks them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dkim
import pytest

from mailer.dkim import (
    OVERSIGNED_HEADERS,
    SIGNED_HEADERS,
    DkimError,
    DkimSigner,
    canonical_body,
    canonical_header,
    dns_record,
    generate_key,
)
from tests.mailer.test_message import build


def verify(message: bytes, signer: DkimSigner) -> bool:
    """dkimpy's verdict, with DNS answered from the signer's own public key."""
    name, value = dns_record(signer)

    def dns(query: bytes, timeout: int = 5) -> bytes:
        assert query.decode().rstrip(".") == name
        return value.encode()

    return bool(dkim.verify(message, dnsfunc=dns))


def signed_names(message: bytes) -> tuple[str, ...]:
    """The header names in the h= tag of a message's first DKIM-Signature."""
    head = message.split(b"\r\n\r\n")[0].decode()
    return tuple(head.split("h=")[1].split(";")[0].replace("\r\n\t", "").split(":"))


@pytest.fixture(params=["rsa", "ed25519"])
def signer(request: pytest.FixtureRequest) -> DkimSigner:
    return DkimSigner.from_pem("news.example.org", "brief", generate_key(request.param))


class TestSignature:
    def test_dkimpy_verifies_our_signature(self, signer: DkimSigner) -> None:
        """RSA-SHA256 and Ed25519-SHA256 signatures verify with dkimpy."""
        signed = signer.sign(build())
        assert signed.startswith(b"DKIM-Signature: v=1; a=" + signer.algorithm.encode())
        assert verify(signed, signer)

    def test_signature_covers_the_list_headers(self, signer: DkimSigner) -> None:
        """h= names the identity, list, feedback and MIME headers, then From and Subject again."""
        signed = signed_names(signer.sign(build()))
        assert set(signed) >= {
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "mime-version",
            "list-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
            "feedback-id",
        }
        assert signed == SIGNED_HEADERS + OVERSIGNED_HEADERS
        assert signed.count("from") == signed.count("subject") == 2

    @pytest.mark.parametrize("name", ["Subject", "From"])
    @pytest.mark.parametrize("where", ["top", "bottom"])
    def test_an_added_from_or_subject_breaks_the_signature(
        self, signer: DkimSigner, name: str, where: str
    ) -> None:
        """A second From or Subject added after signing, above or below the first, fails."""
        signed = signer.sign(build())
        assert verify(signed, signer)
        added = f"{name}: Urgent: verify your account\r\n".encode()
        head, _, body = signed.partition(b"\r\n\r\n")
        tampered = added + signed if where == "top" else head + b"\r\n" + added + b"\r\n" + body
        assert not verify(tampered, signer)

    def test_an_added_header_that_is_not_signed_keeps_the_signature(
        self, signer: DkimSigner
    ) -> None:
        """A Received header added in transit, as every relay does, leaves the signature valid."""
        signed = signer.sign(build())
        assert verify(b"Received: from relay.example by mx.example.net\r\n" + signed, signer)

    def test_a_changed_feedback_id_breaks_the_signature(self, signer: DkimSigner) -> None:
        """Feedback-ID is signed: rewriting the campaign in it fails verification."""
        signed = signer.sign(build())
        assert b"Feedback-ID: run1:" in signed
        assert not verify(signed.replace(b"Feedback-ID: run1:", b"Feedback-ID: run2:"), signer)

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            (b"https://news.example.org/unsubscribe/tok", b"https://evil.example/unsubscribe/tok"),
            (b"Subject: Brief", b"Subject: Brie"),
            (b"Hello", b"Hellp"),
        ],
    )
    def test_tampering_breaks_the_signature(
        self, signer: DkimSigner, old: bytes, new: bytes
    ) -> None:
        """Changing the unsubscribe link, the subject or the body fails verification."""
        signed = signer.sign(build())
        assert old in signed
        assert not verify(signed.replace(old, new, 1), signer)

    def test_signing_a_large_body_keeps_it_intact(self, signer: DkimSigner) -> None:
        """The message after the signature header is byte-for-byte the message given."""
        message = build()
        assert signer.sign(message).endswith(message)


class TestCanonicalisation:
    def test_a_signer_below_shared_lines_signs_as_over_the_whole_block(
        self, signer: DkimSigner
    ) -> None:
        """Lines canonicalised once per variant give the signature of the whole header block.

        A From above the shared lines and one among them are both signed, bottom up, as
        RFC 6376 §5.4.2 has it; and the signed message verifies with dkimpy.
        """
        message = build()
        head, _, body = message.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        own = b"".join(line + b"\r\n" for line in lines[:3]) + b"From: Second <b@x.example>\r\n"
        shared = b"".join(line + b"\r\n" for line in lines[3:])
        body_hash = hashlib.sha256(canonical_body(body)).digest()
        whole = signer.signature(own + shared, body_hash, timestamp=1_700_000_000)
        below = signer.below(shared).signature(own, body_hash, timestamp=1_700_000_000)
        assert below == whole  # PKCS#1 v1.5 and Ed25519 are both deterministic
        assert verify(below + own + shared + b"\r\n" + body, signer)

    def test_a_digest_signed_elsewhere_gives_the_same_line(self, signer: DkimSigner) -> None:
        """`prepare` + `sign_digest` + `line` is `signature`, byte for byte.

        That is what lets a signing process (mailer.signing) sign only the 32-byte digest;
        for RSA the digest's signature is also the signature of the data itself.
        """
        head, _, body = build().partition(b"\r\n\r\n")
        body_hash = hashlib.sha256(canonical_body(body)).digest()
        unsigned = signer.below(b"").prepare(head + b"\r\n", body_hash, timestamp=1_700_000_000)
        line = unsigned.line(signer.sign_digest(unsigned.digest))
        assert line == signer.signature(head + b"\r\n", body_hash, timestamp=1_700_000_000)
        assert verify(line + head + b"\r\n\r\n" + body, signer)
        assert len(signer.sign_digest(unsigned.digest)) == signer.signature_size

    def test_relaxed_header(self) -> None:
        """Names are lowercased, folding removed and runs of whitespace collapsed (RFC 6376)."""
        assert (
            canonical_header("SubJect", " A  \r\n\tfolded   value  ")
            == "subject:A folded value\r\n"
        )

    def test_relaxed_body(self) -> None:
        """Trailing whitespace and trailing empty lines go; inner runs collapse to one space."""
        assert canonical_body(b"a  b \r\nc\t\r\n\r\n\r\n") == b"a b\r\nc\r\n"
        assert canonical_body(b"") == b""


class TestKeys:
    def test_dns_records(self) -> None:
        """The TXT record names the selector and carries the public key of the right kind."""
        rsa_name, rsa_value = dns_record(DkimSigner.from_pem("x.org", "s1", generate_key("rsa")))
        ed_name, ed_value = dns_record(DkimSigner.from_pem("x.org", "s2", generate_key("ed25519")))
        assert rsa_name == "s1._domainkey.x.org" and rsa_value.startswith("v=DKIM1; k=rsa; p=MII")
        assert ed_name == "s2._domainkey.x.org" and ed_value.startswith("v=DKIM1; k=ed25519; p=")

    def test_unusable_keys_are_refused_with_the_file_name(self, tmp_path: Path) -> None:
        """A missing or malformed key file raises DkimError naming the file."""
        with pytest.raises(DkimError, match="nope.pem: cannot read"):
            DkimSigner.from_file("x.org", "s", tmp_path / "nope.pem")
        bad = tmp_path / "bad.pem"
        bad.write_text("not a key")
        with pytest.raises(DkimError, match="bad.pem: cannot load a DKIM private key"):
            DkimSigner.from_file("x.org", "s", bad)
        with pytest.raises(DkimError, match="unknown algorithm"):
            generate_key("dsa")
