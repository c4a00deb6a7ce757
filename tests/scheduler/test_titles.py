"""Tests for scheduler.titles: title normalisation, list-name fixes and subject templates."""

from __future__ import annotations

import datetime

import pytest

from scheduler.titles import SubjectTemplateError, fill_subject, list_name_fix, normalise_title


def test_all_caps_title_becomes_title_case_keeping_acronyms() -> None:
    """A shouting title is title-cased; small words go lower-case and acronyms like ICT stay."""
    got = normalise_title("NEWSLETTER — INFORMATION AND COMMUNICATION TECHNOLOGY (ICT)")
    assert got == "Newsletter — Information and Communication Technology (ICT)"


def test_all_caps_keeps_ai_5g_and_capitalises_a_leading_small_word() -> None:
    """The first word is capitalised even when small; AI and 5G stay in capitals."""
    assert normalise_title("THE AI AND 5G OUTLOOK FOR THE EU") == "The AI and 5G Outlook for the EU"


def test_mixed_case_title_is_left_alone() -> None:
    """A title that already has lower-case letters is the author's choice and is untouched."""
    assert (
        normalise_title("China AI Brief — the week in GPUs") == "China AI Brief — the week in GPUs"
    )


def test_near_miss_list_name_is_replaced_by_the_lists_own_name() -> None:
    """'China AI+ Brief' on the list 'China AI Brief' is renamed; the dated part is kept."""
    got = list_name_fix("China AI+ Brief — 2026-06-26", "China AI Brief")
    assert got == "China AI Brief — 2026-06-26"


def test_different_name_is_kept() -> None:
    """A title naming something else entirely is not rewritten."""
    assert list_name_fix("Weekly Chips Roundup — 2026-06-26", "China AI Brief") == (
        "Weekly Chips Roundup — 2026-06-26"
    )


def test_fill_subject_formats_every_field() -> None:
    """All five fields are filled, and the date takes strftime formats."""
    got = fill_subject(
        "{list}: {top_story} (+{stories}) {date:%a %-d %b}",
        "china-ai",
        list_name="China AI Brief",
        title="t",
        date=datetime.date(2026, 6, 26),
        top_story="Chips",
        stories=4,
    )
    assert got == "China AI Brief: Chips (+4) Fri 26 Jun"


@pytest.mark.parametrize("template", ["{nope}", "{date:%}x{", "{stories:%Y}"])
def test_bad_template_names_the_settings_field(template: str) -> None:
    """An unknown field or a bad format raises an error naming [lists.SLUG] subject."""
    with pytest.raises(SubjectTemplateError, match=r"\[lists\.china-ai\] subject"):
        fill_subject(
            template,
            "china-ai",
            list_name="L",
            title="t",
            date=datetime.date(2026, 6, 26),
            top_story="s",
            stories=1,
        )
