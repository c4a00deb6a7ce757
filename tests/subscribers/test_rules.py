"""The shared domain rules: what each field accepts, its default, and the field an error names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.topics import Taxonomy, UnknownTopic
from subscribers.rules import (
    DEFAULT_SEND_HOUR,
    Cadence,
    InvalidAddress,
    InvalidCadence,
    InvalidSendHour,
    InvalidTimezone,
    RuleError,
    UnknownTopics,
    check_deliverable,
    check_timezone,
    normalise_email,
    parse_cadence,
    parse_send_hour,
    parse_topics,
)


class TestSendHour:
    def test_the_default_is_seven(self) -> None:
        """A reader who chooses no hour gets the daily issue at 7 local time."""
        assert DEFAULT_SEND_HOUR == 7
        assert parse_send_hour(None) == parse_send_hour("") == parse_send_hour("  ") == 7

    @pytest.mark.parametrize(("value", "hour"), [("0", 0), ("07", 7), (" 23 ", 23), (18, 18)])
    def test_whole_hours_from_0_to_23_are_taken(self, value: str | int, hour: int) -> None:
        """Cells, form fields and ints holding 0–23 give that hour."""
        assert parse_send_hour(value) == hour

    @pytest.mark.parametrize("value", ["24", "-1", "7.5", "+7", "1_0", "٧", "007", 24, -1, True])
    def test_anything_else_is_refused_naming_the_field(self, value: str | int) -> None:
        """Out of range, signs, decimals, other digits and booleans raise InvalidSendHour."""
        with pytest.raises(InvalidSendHour, match="is not a whole hour from 0 to 23") as caught:
            parse_send_hour(value)
        assert caught.value.field == "send_hour"

    @given(st.integers(min_value=0, max_value=23))
    def test_the_text_of_an_hour_reads_back_as_that_hour(self, hour: int) -> None:
        """str(hour) and the int itself agree for every valid hour."""
        assert parse_send_hour(str(hour)) == parse_send_hour(hour) == hour


class TestCadence:
    def test_daily_by_default_and_any_case(self) -> None:
        """None or empty is daily; "Weekly" and " DAILY " name their cadence."""
        assert parse_cadence(None) is parse_cadence("") is Cadence.DAILY
        assert parse_cadence("Weekly") is Cadence.WEEKLY
        assert parse_cadence(" DAILY ") is Cadence.DAILY

    def test_an_unknown_cadence_names_it_and_the_choices(self) -> None:
        """A cadence of 'monthly' is refused, naming the cadences there are and the field."""
        with pytest.raises(InvalidCadence) as caught:
            parse_cadence("monthly")
        assert str(caught.value) == "unknown cadence 'monthly' (use daily or weekly)"
        assert caught.value.field == "cadence"


class TestTopics:
    @pytest.mark.parametrize(
        "value", ["policy|chips", "chips,policy", " Policy , chips ", ["chips", "policy"]]
    )
    def test_both_separators_and_lists_give_sorted_ids(
        self, taxonomy: Taxonomy, value: str | list[str]
    ) -> None:
        """Both "a|b", "a,b" and ["a", "b"] give the ids sorted, case and spaces folded."""
        assert parse_topics(value, taxonomy) == ("chips", "policy")

    @pytest.mark.parametrize("value", ["", "|", [], [""]])
    def test_no_topics_is_every_topic(self, taxonomy: Taxonomy, value: str | list[str]) -> None:
        """Nothing chosen is the empty tuple, which means every topic."""
        assert parse_topics(value, taxonomy) == ()

    def test_an_unknown_topic_is_named(self, taxonomy: Taxonomy) -> None:
        """The unknown id is in the message; the error is an UnknownTopic for the topics field."""
        with pytest.raises(UnknownTopics, match="unknown topic crypto") as caught:
            parse_topics("chips|crypto", taxonomy)
        assert isinstance(caught.value, UnknownTopic)
        assert caught.value.unknown == ("crypto",)
        assert caught.value.field == "topics"


class TestTimezone:
    @pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Shanghai"])
    def test_iana_names_are_kept(self, zone: str) -> None:
        """An IANA zone name comes back unchanged."""
        assert check_timezone(zone) == zone

    @pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "", "x" * 300, "../etc/passwd"])
    def test_anything_else_is_an_invalid_timezone(self, zone: str) -> None:
        """Unknown names, zone folders, over-long names and paths raise InvalidTimezone."""
        with pytest.raises(InvalidTimezone, match="unknown time zone") as caught:
            check_timezone(zone)
        assert caught.value.field == "timezone"


class TestAddress:
    def test_domain_is_lowercased_and_idn_kept_readable(self) -> None:
        """Spaces go, the domain is lowercased, the local part keeps its case."""
        assert normalise_email(" Reader@EXAMPLE.net ") == "Reader@example.net"

    def test_a_quoted_local_part_only_when_asked(self) -> None:
        """A quoted local part is refused unless quoted_local, then unquoted if it can be."""
        with pytest.raises(InvalidAddress):
            normalise_email('"a"@example.org')
        assert normalise_email('"a"@example.org', quoted_local=True) == "a@example.org"

    def test_a_bad_address_names_itself_and_the_field(self) -> None:
        """The message quotes the address; the field is email."""
        with pytest.raises(InvalidAddress, match="'not-an-address'") as caught:
            normalise_email("not-an-address")
        assert caught.value.field == "email"
        assert caught.value.address == "not-an-address"

    def test_a_non_ascii_local_part_needs_smtputf8(self) -> None:
        """jürgen@ is refused without SMTPUTF8 at the relay and taken with it; IDN domains pass."""
        with pytest.raises(InvalidAddress, match="outside ASCII"):
            check_deliverable("jürgen@example.de", smtputf8=False)
        assert check_deliverable("jürgen@example.de", smtputf8=True) == "jürgen@example.de"
        assert check_deliverable("a@bücher.de", smtputf8=False) == "a@bücher.de"


def test_every_rule_error_is_a_value_error_with_a_field() -> None:
    """One except clause (RuleError, a ValueError) catches every refused field."""
    for error in (InvalidAddress, InvalidCadence, InvalidSendHour, InvalidTimezone, UnknownTopics):
        assert issubclass(error, RuleError)
        assert issubclass(error, ValueError)
        assert error.field
