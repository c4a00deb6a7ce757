"""Untrusted text from a report, made safe: one line, valid Unicode, capped, addresses checked.

Every string a `BounceEvent` carries went through `clean`: line breaks and control characters
folded to spaces, undecodable bytes replaced, at most `MAX_FIELD` characters, so a value can go
straight into a log line or a database column. Addresses and message ids are only ever taken
whole and checked, never as whatever text stood in their field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import Message
from email.utils import getaddresses, parseaddr

__all__ = [
    "MAX_FIELD",
    "address",
    "addresses",
    "clean",
    "first",
    "header",
    "headers",
    "message_id",
    "part_text",
    "untyped",
]

#: The longest string any BounceEvent field holds.
MAX_FIELD = 1000

# C0 and C1 controls, DEL and Unicode line breaks: no returned string may contain them.
_CONTROLS = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]+")
# Characters never found in a usable address or message id: space, controls, delimiters, U+FFFD.
_ATOM = r"[^\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufffd@<>()\[\],;:\"]"
# A quoted local part ("john smith"@example.org) is kept as written, quotes and all.
_QUOTED = r"\"[^\"\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufffd]{1,62}\""
_ADDRESS = re.compile(rf"(?:{_ATOM}{{1,64}}|{_QUOTED})@{_ATOM}{{1,255}}")
_MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufffd]{1,995}>")
_TYPED = re.compile(r"\s*[A-Za-z][A-Za-z0-9.+-]{0,30}\s*;\s*")


def clean(value: str | None) -> str | None:
    """Untrusted text made safe to store: one line, no controls, valid Unicode, capped."""
    if value is None:
        return None
    try:
        # Raw 8-bit bytes reach us as surrogate escapes; most are UTF-8 in practice.
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    value = _CONTROLS.sub(" ", value).strip()
    return value[:MAX_FIELD].rstrip() or None


def header(msg: Message, name: str) -> str | None:
    """The first value of a header, cleaned, or None."""
    return next(iter(headers(msg, name)), None)


def headers(msg: Message, name: str) -> list[str]:
    """Every non-empty value of a header, cleaned."""
    # raw_items, not get(): compat32 turns a value with 8-bit bytes into a Header object that
    # replaces each byte with U+FFFD, where clean can still decode it as the UTF-8 it usually is.
    found = (clean(str(value)) for key, value in msg.raw_items() if key.lower() == name.lower())
    return [value for value in found if value]


def first(messages: Iterable[Message], name: str) -> str | None:
    """The first value of a header in any of several header blocks."""
    return next((value for msg in messages if (value := header(msg, name))), None)


def untyped(value: str | None) -> str | None:
    """A DSN field without its type: "smtp; 550 User unknown" → "550 User unknown"."""
    if value is None:
        return None
    match = _TYPED.match(value)
    return (value[match.end() :] if match else value).strip() or None


def address(value: str | None) -> str | None:
    """The bare address in "rfc822; <a@b.org>", "Name <a@b.org>" or "a@b.org", else None."""
    value = untyped(value)
    if value is None:
        return None
    if _ADDRESS.fullmatch(bare := value.strip("<> ")):
        return bare  # parseaddr would unquote "john smith"@example.org
    found = parseaddr(value)[1].strip("<> ")
    return found if _ADDRESS.fullmatch(found) else None


def addresses(values: Iterable[str]) -> list[str]:
    """Every valid address in some address-list header values, in order, each once."""
    found = (address(one) for _, one in getaddresses(list(values)))
    return list(dict.fromkeys(one for one in found if one))


def message_id(value: str | None) -> str | None:
    """The first <…> message id in a header value, else None."""
    match = _MESSAGE_ID.search(value or "")
    return match[0] if match else None


def part_text(part: Message) -> str:
    """A leaf part's body: transfer encoding undone, decoded by its charset (else UTF-8)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, ValueError, TypeError):  # unknown charset, or a codec that is not text
        return payload.decode("utf-8", "replace")
