"""Every SMTP client failure maps to exactly one of our two kinds."""

from __future__ import annotations

import aiosmtplib
import pytest

from mailer.errors import (
    HANDLED,
    ConnectionFailure,
    PermanentFailure,
    TemporaryFailure,
    classify,
)


def test_every_aiosmtplib_exception_is_handled() -> None:
    """A new aiosmtplib exception class fails this test until the table in errors.py covers it."""
    exported = [getattr(aiosmtplib.errors, name) for name in aiosmtplib.errors.__all__]
    classes = [c for c in exported if isinstance(c, type) and issubclass(c, Exception)]
    assert classes
    unhandled = [c.__name__ for c in classes if not issubclass(c, HANDLED)]
    assert unhandled == []


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (aiosmtplib.SMTPRecipientRefused(550, "5.1.1 no such user", "a@b"), PermanentFailure, 550),
        (aiosmtplib.SMTPRecipientRefused(451, "4.7.1 try later", "a@b"), TemporaryFailure, 451),
        (aiosmtplib.SMTPDataError(554, "5.7.1 spam"), PermanentFailure, 554),
        (aiosmtplib.SMTPSenderRefused(421, "busy", "x@y"), TemporaryFailure, 421),
        (
            aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(552, "full", "a")]),
            PermanentFailure,
            552,
        ),
        (aiosmtplib.SMTPConnectError("refused"), ConnectionFailure, None),
        (aiosmtplib.SMTPServerDisconnected("gone"), ConnectionFailure, None),
        (aiosmtplib.SMTPReadTimeoutError("slow"), ConnectionFailure, None),
        (aiosmtplib.SMTPConnectResponseError(421, "too many"), ConnectionFailure, 421),
        (aiosmtplib.SMTPAuthenticationError(535, "bad creds"), ConnectionFailure, 535),
        (ConnectionResetError("reset"), ConnectionFailure, None),
    ],
)
def test_classification(exc: Exception, kind: type[Exception], code: int | None) -> None:
    """5xx replies are permanent; 4xx and connection trouble are temporary."""
    error = classify(exc)
    assert type(error) is kind
    assert error.code == code


def test_connection_failure_is_temporary() -> None:
    """An unreachable server never counts as a permanent failure of a recipient."""
    assert issubclass(ConnectionFailure, TemporaryFailure)
    assert not issubclass(ConnectionFailure, PermanentFailure)
