"""SmtpTransport: one persistent aiosmtplib connection, reused for many messages.

The connection is opened on first use, RSET after a refused message so the next transaction
starts clean, and reopened once if the server dropped it between messages.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Literal

import aiosmtplib

from mailer.errors import (
    ConnectionFailure,
    DeliveryError,
    PermanentFailure,
    TemporaryFailure,
    classify,
)
from mailer.message import OutgoingMessage
from mailer.transport import Accepted

__all__ = ["SmtpConfig", "SmtpTransport"]

Security = Literal["none", "starttls", "tls"]


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """Where and how to reach the relay. The password comes from the environment, never a file."""

    host: str = "localhost"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    local_hostname: str | None = None
    validate_certs: bool = True


class SmtpTransport:
    """Sends over one SMTP connection; raises TemporaryFailure or PermanentFailure."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._client: aiosmtplib.SMTP | None = None

    @property
    def address(self) -> str:
        """host:port, for messages to the operator."""
        return f"{self.config.host}:{self.config.port}"

    async def send(self, message: OutgoingMessage) -> Accepted:
        """Send one message over the shared connection (opening or reopening it as needed)."""
        client = await self._connected()
        try:
            errors, reply = await client.sendmail(
                message.mail_from, [message.rcpt_to], message.data
            )
        except aiosmtplib.SMTPServerDisconnected:
            # A relay may close an idle connection between our messages; one fresh try is
            # correct because nothing of this transaction was accepted.
            await self._drop()
            client = await self._connected()
            try:
                errors, reply = await client.sendmail(
                    message.mail_from, [message.rcpt_to], message.data
                )
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise await self._failed(exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise await self._failed(exc) from exc
        if errors:  # aiosmtplib raises when every recipient is refused; this is belt and braces
            response = next(iter(errors.values()))
            kind = PermanentFailure if response.code >= 500 else TemporaryFailure
            raise kind(response.message, response.code)
        return Accepted(250, reply)

    async def close(self) -> None:
        """QUIT politely; a connection that is already gone is not an error."""
        if self._client is None:
            return
        client, self._client = self._client, None
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        cfg = self.config
        tls_context = None if cfg.validate_certs else _unverified_context()
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            timeout=cfg.timeout,
            use_tls=cfg.security == "tls",
            start_tls=cfg.security == "starttls",
            validate_certs=cfg.validate_certs,
            tls_context=tls_context,
            local_hostname=cfg.local_hostname,
        )
        try:
            await client.connect()
            if cfg.username:
                await client.login(cfg.username, cfg.password or "")
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            error = classify(exc)
            raise ConnectionFailure(
                f"cannot reach SMTP server {self.address}: {error.text}", error.code
            ) from exc
        self._client = client
        return client

    async def _failed(self, exc: BaseException) -> DeliveryError:
        error = classify(exc)
        if isinstance(error, ConnectionFailure):
            await self._drop()
        elif self._client is not None:
            # A refused transaction leaves the session mid-way on some servers: reset it.
            try:
                await self._client.rset()
            except (aiosmtplib.SMTPException, OSError):
                await self._drop()
        return error

    async def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
