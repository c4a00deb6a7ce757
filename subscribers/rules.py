"""The domain rules every way in shares: the importer, the service, the public pages and the CLI.

Each rule turns what a person typed (a form field, a CSV cell, a command option) into the value
stored, or raises a `RuleError` whose ``field`` names what was wrong and whose message says why:

    email       normalise_email, check_deliverable   InvalidAddress
    cadence     parse_cadence                        InvalidCadence    default: daily
    timezone    check_timezone                       InvalidTimezone   default: UTC
    send_hour   parse_send_hour                      InvalidSendHour   default: 7
    topics      parse_topics                         UnknownTopics     empty: every topic

This module reads no database, so a face may check a request before anyone is looked up.
"""

from __future__ import annotations

import enum
import re
import zoneinfo
from collections.abc import Iterable
from typing import ClassVar

import email_validator

from mailer.topics import Taxonomy, UnknownTopic

__all__ = [
    "DEFAULT_CADENCE",
    "DEFAULT_SEND_HOUR",
    "DEFAULT_TIMEZONE",
    "Cadence",
    "InvalidAddress",
    "InvalidCadence",
    "InvalidSendHour",
    "InvalidTimezone",
    "RuleError",
    "UnknownTopics",
    "check_deliverable",
    "check_timezone",
    "normalise_email",
    "parse_cadence",
    "parse_send_hour",
    "parse_topics",
]


class Cadence(enum.StrEnum):
    """How often a subscriber wants the list: every daily issue, or the weekly digest."""

    DAILY = "daily"
    WEEKLY = "weekly"


#: The local hour a daily issue goes out at when the reader has not chosen one.
DEFAULT_SEND_HOUR = 7
DEFAULT_CADENCE = Cadence.DAILY
DEFAULT_TIMEZONE = "UTC"


class RuleError(ValueError):
    """A value a rule refuses; ``field`` names the field (form name, CSV column) it came from."""

    field: ClassVar[str] = ""


class InvalidAddress(RuleError):
    """An e-mail address that is not valid; the message names it and says why."""

    field = "email"

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        super().__init__(f"invalid e-mail address {address!r}: {reason}")


class InvalidTimezone(RuleError):
    """A time zone that is not an IANA zone name."""

    field = "timezone"

    def __init__(self, zone: str) -> None:
        super().__init__(f"unknown time zone {zone!r} (use an IANA name such as Europe/Berlin)")


class InvalidSendHour(RuleError):
    """A preferred send hour that is not a whole hour from 0 to 23."""

    field = "send_hour"


class InvalidCadence(RuleError):
    """A cadence that is neither daily nor weekly."""

    field = "cadence"


class UnknownTopics(UnknownTopic, RuleError):
    """Chosen topics the taxonomy does not define (an UnknownTopic, so existing handlers hold)."""

    field = "topics"


def normalise_email(address: str, *, quoted_local: bool = False) -> str:
    """The canonical form of an address (domain lowercased, IDN encoded); InvalidAddress if bad.

    ``quoted_local`` also takes a quoted local part (``"=1+1"@example.org``), unquoted when the
    quotes are not needed.
    """
    try:
        result = email_validator.validate_email(
            address.strip(), check_deliverability=False, allow_quoted_local=quoted_local
        )
    except email_validator.EmailNotValidError as exc:
        raise InvalidAddress(address, str(exc)) from exc
    return str(result.normalized)


def check_deliverable(address: str, *, smtputf8: bool) -> str:
    """The (normalised) address unless its local part needs SMTPUTF8 the relay lacks.

    A relay without SMTPUTF8 (RFC 6531) refuses "jürgen@example.de" for the whole message, so
    such an address is refused when it is given, never stored to fail later. The domain needs
    nothing: IDN domains are sent as A-labels (xn--…).
    """
    local = address.rpartition("@")[0]
    if not smtputf8 and not local.isascii():
        raise InvalidAddress(
            address,
            "the part before the @ has letters outside ASCII, which our mail server cannot "
            "deliver to",
        )
    return address


def check_timezone(zone: str) -> str:
    """The zone if it is an IANA name; InvalidTimezone otherwise."""
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: "Europe" names a folder of zone files, and over-long names fail to open.
        raise InvalidTimezone(zone) from None
    return zone


def parse_send_hour(value: str | int | None) -> int:
    """The hour 0–23 a form field, cell or option holds; the default when None or empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_SEND_HOUR
    if isinstance(value, bool):  # an int to Python, never an hour to a person
        raise InvalidSendHour(f"send_hour {value!r} is not a whole hour from 0 to 23")
    if isinstance(value, int):
        if 0 <= value <= 23:
            return value
    else:
        text = value.strip()
        # int() would also take "+7", "1_0" and other scripts' digits: only 0-9 are an hour.
        if len(text) <= 2 and text.isascii() and text.isdigit() and int(text) <= 23:
            return int(text)
    raise InvalidSendHour(f"send_hour {value!r} is not a whole hour from 0 to 23")


def parse_cadence(value: str | None) -> Cadence:
    """The cadence a field names, in any case; daily when None or empty."""
    if value is None or not value.strip():
        return DEFAULT_CADENCE
    try:
        return Cadence(value.strip().lower())
    except ValueError:
        choices = " or ".join(c.value for c in Cadence)
        raise InvalidCadence(f"unknown cadence {value!r} (use {choices})") from None


_SEPARATORS = re.compile(r"[|,]")


def parse_topics(value: str | Iterable[str], taxonomy: Taxonomy) -> tuple[str, ...]:
    """The chosen topic ids, sorted, from "a|b", "a,b" or a list of them; () is every topic."""
    pieces = [value] if isinstance(value, str) else list(value)
    chosen = [topic for piece in pieces for topic in _SEPARATORS.split(piece)]
    try:
        return taxonomy.validate(chosen)
    except UnknownTopic as exc:
        raise UnknownTopics(exc.unknown, exc.valid) from None
