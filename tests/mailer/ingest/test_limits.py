"""What ingest refuses for being beyond a format's limits, and what it warns about.

Every refusal names the file and the line and says what the limit is; nothing escapes as a
traceback (a RecursionError, a ValueError from integer conversion).
"""

from __future__ import annotations

import json

import pytest

from bench.ingest_large import generate_brief, main, measure
from mailer.ingest import IngestError, read_issue_bytes
from mailer.ingest.json_format import MAX_DEPTH

VALID = {"title": "Harbour notes", "date": "2026-07-01"}


def story_json(**extra: object) -> dict[str, object]:
    return {"title": "Buoys counted", "summary": "Forty buoys.", **extra}


def parse(text: str, name: str = "x.json") -> None:
    read_issue_bytes(text.encode(), name)


class TestJsonShape:
    def test_nesting_a_thousand_deep_is_refused_with_its_line(self) -> None:
        """JSON nested 1,000 deep is refused at the line it goes too deep, not a RecursionError."""
        deep = "[" * 1000 + "]" * 1000
        text = '{\n"title": "Harbour notes",\n"stories": [\n{"extra":\n' + deep + "}]}\n"
        with pytest.raises(IngestError) as info:
            parse(text)
        assert info.value.line == 5
        assert f"nesting deeper than an issue's shape (at most {MAX_DEPTH} levels" in str(
            info.value
        )

    def test_one_level_beyond_the_shape_is_refused(self) -> None:
        """A list inside a story's topics (depth 5) is beyond the shape."""
        data = {**VALID, "stories": [story_json(topics=[["chips"]])]}
        with pytest.raises(IngestError, match=r"x.json:1: nesting deeper than an issue's shape"):
            parse(json.dumps(data))

    def test_the_shape_itself_is_accepted(self) -> None:
        """Topics inside a story inside the stories list is exactly the deepest allowed."""
        data = {**VALID, "stories": [story_json(topics=["chips"])]}
        issue, _ = read_issue_bytes(json.dumps(data).encode(), "x.json")
        assert issue.stories[0].topics == ("chips",)

    def test_a_hundred_thousand_digit_number_is_refused_with_its_line(self) -> None:
        """A 100,000-digit position is out of range, named with its line and the limit."""
        data = {**VALID, "stories": [story_json(position=7)]}
        text = json.dumps(data, indent=2).replace('"position": 7', '"position": ' + "9" * 100_000)
        with pytest.raises(IngestError) as info:
            parse(text)
        line = next(n for n, t in enumerate(text.split("\n"), 1) if '"position"' in t)
        assert info.value.line == line
        assert "(100,000 characters) is out of range: numbers have at most 15 characters" in str(
            info.value
        )

    @pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
    def test_non_numbers_are_refused(self, word: str) -> None:
        """NaN and Infinity are not JSON, whatever Python's decoder accepts."""
        text = json.dumps({**VALID, "stories": [story_json()]}).replace('"Forty buoys."', word)
        with pytest.raises(IngestError, match=r"x.json:1: invalid JSON: '(NaN|Infinity)'"):
            parse(text)

    def test_an_unterminated_string_is_left_to_the_decoder(self) -> None:
        """A string that never ends is reported by the decoder at its line."""
        with pytest.raises(IngestError, match=r"x.json:2: invalid JSON: Unterminated string"):
            parse('{"stories": [\n"Harbour [[[[[[ {{{{{')


def numbered_brief(count: int) -> str:
    lines = ["Harbour Brief — 2026-07-01", ""]
    for n in range(1, count + 1):
        lines += [f"{n}. Buoy {n} counted", f"  • Summary: Buoy {n} is afloat.", "  • URL: -", ""]
    return "\n".join(lines)


class TestStoryNumbers:
    def test_nine_hundred_ninety_nine_stories_are_read(self) -> None:
        """A brief of 999 stories, the most three digits can number, ingests whole."""
        issue, _ = read_issue_bytes(numbered_brief(999).encode(), "b.txt")
        assert len(issue.stories) == 999

    def test_story_one_thousand_says_the_limit(self) -> None:
        """Story 1000 is refused at its line, saying that story numbers go up to 999."""
        with pytest.raises(IngestError) as info:
            read_issue_bytes(numbered_brief(1000).encode(), "b.txt")
        assert str(info.value) == (
            "b.txt:3999: story 1000: story numbers go up to 999; split the brief into two issues"
        )

    def test_a_wrapped_line_starting_with_a_year_stays_prose(self) -> None:
        """A summary line that wraps onto '2026. …' is prose, not a too-long story number."""
        text = numbered_brief(1).replace("is afloat.", "was built in\n2026. It is afloat.")
        issue, _ = read_issue_bytes(text.encode(), "b.txt")
        assert issue.stories[0].summary == "Buoy 1 was built in 2026. It is afloat."


CUT = "Harbour Brief — 2026-07-01\n\n1. Buoys counted\n  • Summary: The harbour master will cou"


class TestCutShort:
    def test_a_brief_cut_mid_word_warns(self) -> None:
        """A brief whose last field stops mid-word with no final newline is read with a warning."""
        issue, detection = read_issue_bytes(CUT.encode(), "b.txt")
        assert issue.stories[0].summary == "The harbour master will cou"
        assert detection.warnings == (
            "b.txt:4: the last field ends mid-sentence ('The harbour master will cou') and the "
            "file has no final line break: was it cut short?",
        )

    def test_a_cut_why_it_matters_warns(self) -> None:
        """The check reads whichever prose field comes last."""
        text = CUT.replace("cou", "count.") + "\n  • Why It Matters: Because buo"
        _, detection = read_issue_bytes(text.encode(), "b.txt")
        assert len(detection.warnings) == 1 and "'Because buo'" in detection.warnings[0]

    @pytest.mark.parametrize(
        "text",
        [
            CUT + "nt them.",
            CUT + "\n",
            CUT.replace("cou", "count.") + "\n  • URL: Read more",
        ],
        ids=["complete-sentence", "final-newline", "ends-with-url"],
    )
    def test_complete_files_do_not_warn(self, text: str) -> None:
        """A last sentence that ends, a final line break, or a URL last gives no warning."""
        _, detection = read_issue_bytes(text.encode(), "b.txt")
        assert detection.warnings == ()

    def test_an_article_cut_mid_word_warns(self) -> None:
        """The check is the same for every format: an article cut short warns too."""
        text = (
            "Harbour notes\n#chips\n\nBuoys\n\n"
            "The harbour master counts every buoy in the bay each spring and marks those that dri"
        )
        _, detection = read_issue_bytes(text.encode(), "a.txt")
        assert detection.format == "article"
        assert "a.txt:6: the last field ends mid-sentence" in detection.warnings[0]


class TestBench:
    def test_the_generated_brief_is_a_brief_of_that_size(self) -> None:
        """The bench's brief is read as the published format with every story, near its size."""
        text = generate_brief(20_000, stories=5, wrap=60)
        issue, detection = read_issue_bytes(text.encode(), "bench.txt")
        assert detection.format == "brief" and len(issue.stories) == 5
        assert 15_000 < len(text) < 25_000

    def test_the_bench_runs_on_a_small_size(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`python -m bench.ingest_large` measures each size and prints its table and JSON."""
        main(["--sizes", "5000,10000", "--repeat", "1"])
        printed = capsys.readouterr().out.splitlines()
        assert printed[0].split() == ["stories", "wrap", "size", "MB", "seconds", "s/MB", "ratio"]
        assert len(printed) == 1 + 4 + 1
        report = json.loads(printed[-1])
        assert [(r["stories"], r["wrap"]) for r in report] == [(100, 0), (1, 80)]
        assert measure(5000, stories=2, repeat=1)["mb"] > 0


class TestMarkup:
    def test_a_page_nested_five_thousand_deep_is_refused_not_a_recursion_error(self) -> None:
        """Markup nested far beyond any page's layout ends in an IngestError naming the file."""
        page = b"<html><body>" + b"<div>" * 5000 + b"<p>Deep.</p>" + b"</div>" * 5000 + b"</body>"
        with pytest.raises(IngestError, match=r"^deep.html:1: "):
            read_issue_bytes(page, "deep.html")

    def test_lists_nested_three_thousand_deep_are_refused(self) -> None:
        """Nested lists (HTML and Markdown) are read without recursing per level."""
        page = b"<html><body><h1>T</h1>" + b"<ul><li>x" * 3000 + b"</li></ul>" * 3000 + b"</body>"
        with pytest.raises(IngestError, match=r"^deep.html:1: an HTML page: unrecognised"):
            read_issue_bytes(page, "deep.html")
        markdown = "# T\n\n" + "".join("  " * level + "- x\n" for level in range(300))
        with pytest.raises(IngestError, match=r"^deep.md:1: Markdown: unrecognised"):
            read_issue_bytes(markdown.encode(), "deep.md")

    def test_control_characters_spelled_as_references_are_dropped(self) -> None:
        """&#7; in a page never reaches a story: the text formats refuse controls outright."""
        paragraph = (
            "<p>" + "The harbour bell &#7;rings at noon every day of the week, " * 3 + ".</p>"
        )
        page = (
            "<html><body><article><h1>Bell</h1><p>Posted on 9 July 2026</p><h2>Ringing</h2>"
            + paragraph.replace("&#7;", "&#x7F;", 1)
            + paragraph.replace("noon", "dawn")
            + "</article></body></html>"
        )
        issue, _ = read_issue_bytes(page.encode(), "bell.html")
        assert "\x07" not in issue.stories[0].summary
        assert "bell rings at noon" in issue.stories[0].summary
