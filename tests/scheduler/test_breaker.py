"""The breaker: our side's refusals pause a run; readers' refusals never do."""

from __future__ import annotations

from scheduler.breaker import Breaker, BreakerSettings, pause_line

SENDER = ("sender", 550, "5.1.0 <bounces+x@news.example.org>: Sender address rejected")


class TestBreaker:
    def test_a_streak_of_our_refusals_trips_it_with_the_reply(self) -> None:
        """The streak-th refusal in a row of our sender returns the operator's line."""
        breaker = Breaker(4, BreakerSettings(streak=3, ratio=1.0, window=10))
        assert breaker.observe(*SENDER) is None
        assert breaker.observe(*SENDER) is None
        line = breaker.observe(*SENDER)
        assert line == (
            "the relay refuses the envelope sender: 550 5.1.0 <bounces+x@news.example.org>: "
            "Sender address rejected; run 4 paused; fix the relay or the sender and "
            "`briefmail runs resume 4`"
        )

    def test_a_delivery_between_refusals_resets_the_streak(self) -> None:
        """Refusals interleaved with deliveries trip only through the window's share."""
        breaker = Breaker(1, BreakerSettings(streak=2, ratio=0.5, window=10))
        for _ in range(4):
            assert breaker.observe(*SENDER) is None
            assert breaker.observe(None, 250, "OK") is None
        # Five of the last ten are ours: the share is reached.
        assert breaker.observe(*SENDER) is not None

    def test_the_window_forgets_old_refusals(self) -> None:
        """A refusal that slid out of the window no longer counts towards its share."""
        breaker = Breaker(1, BreakerSettings(streak=100, ratio=0.4, window=5))
        assert breaker.observe(*SENDER) is None
        for _ in range(5):
            assert breaker.observe(None, 250, "OK") is None
        assert breaker.observe(*SENDER) is None  # one of five (two trip it): the old one is gone

    def test_readers_refusals_and_temporary_ones_never_trip_it(self) -> None:
        """Missing and full mailboxes, unknown refusals and 4xx policy replies never count."""
        breaker = Breaker(1, BreakerSettings(streak=1, ratio=0.001, window=10))
        assert breaker.observe("gone", 550, "5.1.1 user unknown") is None
        assert breaker.observe("full", 552, "5.2.2 over quota") is None
        assert breaker.observe("unknown", 550, "no") is None
        assert breaker.observe("policy", 451, "4.7.650 rate limited") is None
        assert breaker.observe("policy", 554, "5.7.1 blocked using zen.spamhaus.org") is not None

    def test_the_default_is_twenty_in_a_row_or_two_percent_of_five_hundred(self) -> None:
        """The defaults pause after ten of our refusals within the last 500 outcomes."""
        settings = BreakerSettings()
        assert (settings.streak, settings.window, settings.threshold) == (20, 500, 10)


def test_a_refused_connection_names_the_relay_settings() -> None:
    """Without a reply class the line blames the connection and says how to resume."""
    assert pause_line(9, None, "554 5.7.1 no\r\nrelay") == (
        "the relay refuses the connection: 554 5.7.1 no relay; run 9 paused; "
        "fix the relay settings and `briefmail runs resume 9`"
    )
