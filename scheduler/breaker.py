"""When our side's refusals stop a run: a circuit breaker over the send's recent outcomes.

A relay that refuses our envelope sender, or receivers that refuse our IP (a blocklist, a broken
SPF record), refuse *everyone*. Each such refusal keeps its delivery owed — nobody is failed or
suppressed for it — but sending on would only collect thousands of the same refusal and burn
the sender's reputation further. So a send watches its outcomes and pauses the run itself when
our side's permanent refusals (`mailer.replies.Reason.ours`: sender, policy, content) come

- ``streak`` in a row (default 20), or
- ``ratio`` of the last ``window`` outcomes (default 2% of 500: ten of them),

with one line for the operator naming the reply and the fix. Refusals about readers (a missing
mailbox, a full one) and temporary refusals never trip it: they are the normal weather of a
large list.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from mailer.replies import Reason

__all__ = ["Breaker", "BreakerSettings", "pause_line"]


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """How many of our side's refusals pause a run (`[delivery]` pause_after/ratio/window)."""

    streak: int = 20
    ratio: float = 0.02
    window: int = 500

    @property
    def threshold(self) -> int:
        """Refusals within the window that trip the breaker (at least one)."""
        return max(1, round(self.ratio * self.window))


#: What the operator reads for each reason, and what to do about it.
_CAUSES = {
    Reason.SENDER: ("the relay refuses the envelope sender", "fix the relay or the sender"),
    Reason.POLICY: (
        "receiving servers refuse us on policy (blocklist, reputation or authentication)",
        "check the sending IP, SPF, DKIM and DMARC",
    ),
    Reason.CONTENT: ("receiving servers refuse the message's content", "fix the issue"),
}
_CONNECTION = ("the relay refuses the connection", "fix the relay settings")


def pause_line(run_id: int, reason: Reason | None, reply: str) -> str:
    """The one line an operator reads when a run paused itself."""
    cause, fix = _CAUSES.get(reason, _CONNECTION) if reason else _CONNECTION
    reply = " ".join(reply.split())[:240]
    return f"{cause}: {reply}; run {run_id} paused; {fix} and `briefmail runs resume {run_id}`"


class Breaker:
    """Counts a send's outcomes; says when our side's refusals must pause the run."""

    def __init__(self, run_id: int, settings: BreakerSettings | None = None) -> None:
        self.run_id = run_id
        self.settings = settings or BreakerSettings()
        self._recent: deque[bool] = deque(maxlen=self.settings.window)
        self._in_window = 0
        self._streak = 0
        #: Outcomes seen, and the line of the last refusal of ours (None: none yet).
        self._seen = 0
        self._last: str | None = None

    def observe(self, reason: str | None, code: int | None, text: str | None) -> str | None:
        """Note one outcome; the operator's line when the run must pause now, else None."""
        why = Reason(reason) if reason is not None else None
        ours = why is not None and why.ours and (code or 0) >= 500
        if len(self._recent) == self._recent.maxlen and self._recent[0]:
            self._in_window -= 1
        self._recent.append(ours)
        self._in_window += ours
        self._streak = self._streak + 1 if ours else 0
        self._seen += 1
        if not ours:
            return None
        self._last = pause_line(self.run_id, why, f"{code} {text or ''}")
        if self._streak >= self.settings.streak or self._in_window >= self.settings.threshold:
            return self._last
        return None

    def at_end(self) -> str | None:
        """When the send ran out of work: the line if every outcome was a refusal of ours.

        A small run (a test list, the last few readers) never reaches the thresholds, yet a
        send in which nothing but our side's refusals came back must not look like success.
        """
        return self._last if self._seen and self._streak == self._seen else None
