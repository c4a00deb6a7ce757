"""Throttles by destination: one recipient domain slowing down never slows the whole run.

Large mailbox providers answer a sender they want slower with a 4xx to RCPT TO for their own
recipients (Outlook's ``451 4.7.650``, Gmail's ``421 4.7.28``, the big Chinese providers'
``451 Requested mail action not taken: too much mail``). Hammering them makes it worse, but
the other 95% of a list should not wait. So each domain has its own state:

- a **backoff**: after a 4xx at RCPT the domain rests (2 s, doubling to 10 minutes) and every
  message for it meanwhile is deferred at once, without a connection — the run goes on with
  the other domains and retries the deferred ones later; one accepted message ends the rest;
- optional **limits** from configuration (``[smtp.domains."outlook.com"] rate = 50``):
  messages per second and messages in flight at once for that domain. A message waits for its
  slot; a domain without limits costs a dictionary lookup.

A limit for ``outlook.com`` also covers its subdomains (``eu.outlook.com``).

Only a refusal that is about *us* rests a domain (`is_throttle`): a 421, a 4.7.x, or words of
rate and volume. Greylisting and a full or busy mailbox are about one recipient: that one
delivery is deferred and the domain's other readers go on.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mailer.errors import DeliveryError, TemporaryFailure
from mailer.replies import Stage, enhanced_status

__all__ = ["DomainLimits", "DomainThrottle", "is_throttle", "recipient_domain"]

_ONE_RECIPIENT = re.compile(r"gr[ae]ylist", re.I)
_THROTTLE = re.compile(
    r"rate|too (?:many|much|fast)|limit|throttl|slow down|reputation|unusual|volume|"
    r"deferred|temporarily (?:blocked|deferred|rejected)",
    re.I,
)


def is_throttle(exc: DeliveryError) -> bool:
    """Whether a 4xx at RCPT asks us to slow down for the whole domain, not one recipient."""
    if exc.stage is not Stage.RCPT or exc.code is None or not 400 <= exc.code < 500:
        return False
    text = exc.text or ""
    if _ONE_RECIPIENT.search(text):
        return False
    status = enhanced_status(text) or ""
    if status.startswith(("4.1.", "4.2.")):
        return False  # the address or the mailbox (busy, full): one reader's state
    return exc.code == 421 or status.startswith("4.7.") or bool(_THROTTLE.search(text))


@dataclass(frozen=True, slots=True)
class DomainLimits:
    """How fast one recipient domain may be sent to (0: no limit)."""

    #: Messages per second to this domain.
    rate: float = 0.0
    #: Messages in flight to this domain at once.
    connections: int = 0


def recipient_domain(address: str) -> str:
    """The lower-cased domain of an envelope recipient ("" when it has none)."""
    return address.rpartition("@")[2].lower()


class _Domain:
    """The state of one recipient domain: its backoff, and its limits' bookkeeping."""

    def __init__(self, limits: DomainLimits | None) -> None:
        self.resting_until = 0.0
        self.rest = 0.0
        self.last_refusal = ""
        self.interval = 1.0 / limits.rate if limits and limits.rate > 0 else 0.0
        self.next_slot = 0.0
        self.in_flight = (
            asyncio.Semaphore(limits.connections) if limits and limits.connections > 0 else None
        )


class DomainThrottle:
    """Per-domain backoff after 4xx refusals at RCPT, and configured per-domain limits."""

    #: The first rest after a refusal (seconds), doubled each time up to ``max_rest``.
    first_rest = 2.0
    max_rest = 600.0

    def __init__(self, limits: Mapping[str, DomainLimits] | None = None) -> None:
        self._limits = {domain.lower(): value for domain, value in (limits or {}).items()}
        self._domains: dict[str, _Domain] = {}

    def _state(self, domain: str) -> _Domain:
        state = self._domains.get(domain)
        if state is None:
            state = self._domains[domain] = _Domain(self._configured(domain))
        return state

    def _configured(self, domain: str) -> DomainLimits | None:
        """The limits for a domain or its nearest configured parent domain."""
        labels = domain.split(".")
        for start in range(len(labels)):
            if (found := self._limits.get(".".join(labels[start:]))) is not None:
                return found
        return None

    def resting(self, domain: str) -> float:
        """Seconds the domain still rests (0 when it takes mail)."""
        state = self._domains.get(domain)
        return max(0.0, state.resting_until - time.monotonic()) if state else 0.0

    @asynccontextmanager
    async def slot(self, domain: str) -> AsyncIterator[None]:
        """Wait for the domain's limits, or raise TemporaryFailure while the domain rests."""
        state = self._state(domain)
        if (left := state.resting_until - time.monotonic()) > 0:
            raise TemporaryFailure(
                f"not sent: {domain} asked us to slow down ({state.last_refusal}); "
                f"it rests {left:.0f} s more"
            )
        if state.interval:
            now = time.monotonic()
            at = max(now, state.next_slot)
            state.next_slot = at + state.interval
            if at > now:
                await asyncio.sleep(at - now)
        if state.in_flight is None:
            yield
            return
        async with state.in_flight:
            yield

    def refused(self, domain: str, exc: DeliveryError) -> None:
        """A 4xx at RCPT from this domain: rest it, twice as long as last time."""
        state = self._state(domain)
        state.rest = min(max(state.rest * 2, self.first_rest), self.max_rest)
        state.resting_until = time.monotonic() + state.rest
        state.last_refusal = f"{exc.code or ''} {exc.text}".strip()[:200]

    def accepted(self, domain: str) -> None:
        """A message to this domain went through: its backoff starts again from the beginning."""
        state = self._domains.get(domain)
        if state is not None:
            state.rest = 0.0
