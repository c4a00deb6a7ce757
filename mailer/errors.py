"""Delivery errors: every SMTP failure becomes one of two kinds, decided once, here.

    DeliveryError                  something kept a message from being accepted
    ├── TemporaryFailure           try again later (4xx, timeouts, dropped connections)
    │   ├── ConnectionFailure      the server cannot be reached at all: stop the run, resume later
    │   └── UncertainDelivery      the message went out, no final reply came: it may have arrived
    └── PermanentFailure           the server refused this recipient or message for good (5xx)

Third-party exceptions never leave a transport: `classify` maps each aiosmtplib exception to one
of ours, and a test fails if aiosmtplib grows an exception this table does not cover.

A refusal also says which command it answered (``stage``, a `mailer.replies.Stage`): whether a
5xx is about the reader or about us depends on it, and `mailer.replies.classify_reply` decides.
"""

from __future__ import annotations

import aiosmtplib

from mailer.replies import Stage

__all__ = [
    "ConnectionFailure",
    "DeliveryError",
    "PermanentFailure",
    "TemporaryFailure",
    "UncertainDelivery",
    "classify",
]


class DeliveryError(Exception):
    """A message was not accepted; ``code``, ``text`` and ``stage`` describe the reply, if any."""

    def __init__(self, text: str, code: int | None = None, stage: Stage | None = None) -> None:
        self.code = code
        self.text = text
        #: The command the refusal answered; None when no server judged the message.
        self.stage = stage
        super().__init__(f"{code} {text}" if code else text)


class TemporaryFailure(DeliveryError):
    """The message may be accepted if sent again later."""


class ConnectionFailure(TemporaryFailure):
    """The server could not be reached or dropped us; no recipient was judged."""


class UncertainDelivery(TemporaryFailure):
    """The whole message was written but its final reply never came (lost, or too late).

    The server may have accepted it: sending it again may give the reader two copies, so it is
    never retried on its own.
    """


class PermanentFailure(DeliveryError):
    """The server refused for good; sending again will not help."""


# Most specific first: classify() takes the first row the exception is an instance of.
_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    aiosmtplib.SMTPConnectError,  # includes SMTPConnectTimeoutError, SMTPConnectResponseError
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPTimeoutError,  # includes SMTPReadTimeoutError
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPNotSupported,
)
#: Every aiosmtplib exception class this module knows how to classify.
HANDLED: tuple[type[Exception], ...] = (
    *_CONNECTION_ERRORS,
    aiosmtplib.SMTPRecipientsRefused,
    aiosmtplib.SMTPResponseException,  # SMTPRecipientRefused, SMTPSenderRefused, SMTPDataError
    aiosmtplib.SMTPException,
)


def classify(exc: BaseException) -> DeliveryError:
    """Map an SMTP client exception (or OSError) to TemporaryFailure or PermanentFailure."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        # One message, one recipient: the single refusal is the answer.
        return classify(exc.recipients[0])
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return ConnectionFailure(exc.message, exc.code)
    if isinstance(exc, _CONNECTION_ERRORS):
        code = exc.code if isinstance(exc, aiosmtplib.SMTPResponseException) else None
        return ConnectionFailure(str(getattr(exc, "message", exc)) or type(exc).__name__, code)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        kind = PermanentFailure if 500 <= exc.code < 600 else TemporaryFailure
        return kind(exc.message, exc.code)
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return ConnectionFailure(str(exc) or type(exc).__name__)
    return TemporaryFailure(f"{type(exc).__name__}: {exc}")
