"""Whose fault a refusal is: SMTP replies and bounce report statuses read by one set of rules."""

from __future__ import annotations

import pytest

from mailer.replies import Reason, Stage, classify_reply, classify_status, stage_named

R = Reason
OURS = "bounces+12.ab34@news.example.org"


class TestReplies:
    """An SMTP refusal: stage first, then a specific enhanced code, then words, then the code."""

    @pytest.mark.parametrize(
        ("stage", "code", "text", "reason", "permanent"),
        [
            (Stage.MAIL, 550, f"5.1.0 <{OURS}>: Sender address rejected", R.SENDER, True),
            (Stage.RCPT, 550, f"5.1.0 <{OURS}>: Sender address rejected", R.SENDER, True),
            (Stage.RCPT, 554, "5.7.1 Client host blocked using zen.spamhaus.org", R.POLICY, True),
            (Stage.RCPT, 550, "5.1.1 <a@example.net>: user unknown", R.GONE, True),
            (Stage.RCPT, 550, "mailbox unavailable", R.GONE, True),
            (Stage.RCPT, 552, "5.2.2 mailbox full", R.FULL, True),
            (
                Stage.RCPT,
                451,
                "4.7.650 The mail server has been temporarily rate limited",
                None,
                False,
            ),
            (Stage.BODY, 554, "5.3.4 Message too big for system", R.CONTENT, True),
            (Stage.BODY, 550, "user unknown", R.UNKNOWN, True),
            (Stage.CONNECT, 554, "5.1.1 no such user", R.POLICY, True),
            (Stage.RCPT, 550, "user unknown, blocked using Spamhaus", R.POLICY, True),
            (Stage.RCPT, 421, "Try again later", R.TEMPORARY, False),
        ],
    )
    def test_reply(
        self, stage: Stage, code: int, text: str, reason: Reason | None, permanent: bool
    ) -> None:
        """Each reply gets the reason and permanence the module's rules give."""
        verdict = classify_reply(stage, code, f"{code} {text}", sender=OURS)
        assert verdict.permanent is permanent
        if reason is not None:
            assert verdict.reason is reason
        assert not verdict.reason.suppresses or verdict.reason is R.GONE

    def test_rate_limit_is_never_a_reason_to_suppress(self) -> None:
        """Outlook's 4.7.650 throttle is temporary and suppresses nobody."""
        verdict = classify_reply(Stage.RCPT, 451, "451 4.7.650 rate limited")
        assert (verdict.permanent, verdict.hard_bounce) == (False, False)


class TestReportStatuses:
    """One recipient of a bounce report: Status, Diagnostic-Code and Action together."""

    @pytest.mark.parametrize(
        ("status", "diagnostic", "action", "reason"),
        [
            ("5.0.0", "550 Denied by policy", "failed", R.POLICY),
            ("5.1.8", "553 Sender address rejected", "failed", R.SENDER),
            (None, f"after MAIL FROM:<{OURS}> SIZE=1: 550 5.1.7 bad sender", "failed", R.SENDER),
            (None, "after initial connection: 554 192.0.2.1 blocked for abuse", "failed", R.POLICY),
            (None, "after initial connection: 550 no such user", "failed", R.POLICY),
            ("5.0.0 (mailbox quota exceeded)", None, "failed", R.FULL),
            ("5.0.0", None, "failed", R.UNKNOWN),
            (None, None, "failed", R.UNKNOWN),
            (None, "mailbox is full: retry timeout exceeded", "failed", R.FULL),
            ("4.4.7", "451 4.4.0 timeout", "failed", R.EXPIRED),
            ("5.1.1", "550 5.1.1 no such user", "expired", R.EXPIRED),
            ("5.1.1", "550 5.1.1 no such user", "failed", R.GONE),
            ("5.0.0", "550 user unknown (in reply to end of DATA command)", "failed", R.UNKNOWN),
            ("5.0.0", "550 5.1.1 user unknown (in reply to end of DATA command)", "failed", R.GONE),
            ("5.0.0", "554 Too many hops 26 (25 max)", "failed", R.UNKNOWN),
            ("553 Exceeded maximum inbound message size", None, "failure", R.CONTENT),
            (None, "This user doesn't have a yahoo.com account", "failed", R.GONE),
        ],
    )
    def test_status(
        self, status: str | None, diagnostic: str | None, action: str, reason: Reason
    ) -> None:
        """A report's recipient gets the reason an operator would read in it."""
        verdict = classify_status(status, diagnostic, action=action)
        assert verdict is not None
        assert verdict.reason is reason
        assert verdict.permanent

    @pytest.mark.parametrize("action", ["delivered", "relayed", "expanded", "delayed"])
    def test_actions_that_are_no_failure(self, action: str) -> None:
        """Delivered, relayed, expanded and delayed recipients have no verdict."""
        assert classify_status("5.1.1", "550 5.1.1 unknown", action=action) is None

    def test_success_status_is_no_failure(self) -> None:
        """A 2.x.x status is no failure whatever the Action says."""
        assert classify_status("2.0.0", None, action="failed") is None

    @pytest.mark.parametrize(
        ("text", "stage"),
        [
            ("SMTP error from remote mail server after pipelined MAIL FROM:<a@b>:", Stage.MAIL),
            ("SMTP error from remote mail server after RCPT TO:<a@b>:", Stage.RCPT),
            ("said: 550 oops (in reply to end of DATA command)", Stage.BODY),
            ("host x: after initial connection: 554 no", Stage.CONNECT),
            (">>> MAIL From:<a@b>\n<<< 250 ok\n>>> RCPT To:<c@d>\n<<< 550 no", Stage.RCPT),
            ("Remote host said: 554 no [RCPT_TO]", Stage.RCPT),
            ("550 user unknown", None),
        ],
    )
    def test_stage_named(self, text: str, stage: Stage | None) -> None:
        """The stage a report's words name; the last command of a Sendmail transcript."""
        assert stage_named(text) is stage


class TestReasons:
    """The table of the module docstring: what each reason means for a reader."""

    def test_only_gone_and_complaint_suppress(self) -> None:
        """Gone and complaint suppress; nothing else does."""
        assert {r for r in Reason if r.suppresses} == {R.GONE, R.COMPLAINT}

    def test_ours(self) -> None:
        """Policy, sender and content are our side's fault."""
        assert {r for r in Reason if r.ours} == {R.POLICY, R.SENDER, R.CONTENT}
