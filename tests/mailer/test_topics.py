"""The taxonomy file, explainable tagging, and validation of topic choices."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from mailer.content import GENERAL, Format, Issue, Story
from mailer.topics import Taxonomy, TaxonomyError, UnknownTopic, evaluate, load_taxonomy
from tests.conftest import FIXTURES


def story(text: str) -> Story:
    return Story(position=1, title=text, summary="")


class TestDefaultTaxonomy:
    def test_required_topics_exist_with_labels_and_keywords(self, taxonomy: Taxonomy) -> None:
        """The shipped taxonomy defines the eight topics subscribers can choose."""
        required = {
            "chips",
            "models",
            "funding",
            "policy",
            "infrastructure",
            "robotics",
            "research",
            "business",
        }
        assert required <= set(taxonomy.ids)
        for topic in taxonomy.topics:
            assert topic.label
            assert topic.description
            assert topic.keywords


class TestTagging:
    def test_whole_words_only(self, taxonomy: Taxonomy) -> None:
        """'chip' matches the word chip, not a longer word that contains it."""
        assert "chips" in taxonomy.tag(story("A new chip ships")).topics
        assert "chips" not in taxonomy.tag(story("Chipotle opens a store")).topics

    def test_phrases_match_across_whitespace(self, taxonomy: Taxonomy) -> None:
        """A keyword phrase matches even when the text wraps between its words."""
        (evidence,) = taxonomy.explain(story("new data\ncenters open"))
        assert (evidence.topic, evidence.words) == ("infrastructure", ("data centers",))

    def test_no_match_is_general(self, taxonomy: Taxonomy) -> None:
        """A story no topic matches is tagged general."""
        assert taxonomy.tag(story("The editors wish you a good summer")).topics == (GENERAL,)

    def test_one_hint_is_not_enough(self, taxonomy: Taxonomy) -> None:
        """A lone hint ('model') does not give a topic; two hints or a keyword do."""
        assert taxonomy.tag(story("A new business model")).topics == (GENERAL,)
        assert "models" in taxonomy.tag(story("The model beats every benchmark")).topics
        assert "models" in taxonomy.tag(story("DeepSeek ships")).topics

    def test_passing_mentions_give_way_to_the_main_topic(self, taxonomy: Taxonomy) -> None:
        """One keyword in a story clearly about something else is not a topic of it."""
        text = "The SMIC foundry lifts 7 nm chip output; semiconductor capital raised"
        assert taxonomy.tag(Story(1, "Output rises", text)).topics == ("chips",)

    def test_explain_names_matching_words_and_scores(self, taxonomy: Taxonomy) -> None:
        """Explanations list each topic's matching words and its score."""
        found = {e.topic: e for e in taxonomy.explain(story("Regulators ban GPU exports"))}
        assert found["chips"].words == ("gpu",)
        assert found["policy"].words == ("ban", "regulators")
        assert found["policy"].describe() == "policy: ban, regulators [score 4]"

    def test_hashtags_map_through_aliases(self, taxonomy: Taxonomy) -> None:
        """An article's hashtags give topics through the taxonomy's aliases."""
        (found,) = taxonomy.explain_issue(
            Issue(
                "Title",
                dt.date(2026, 7, 1),
                (story("Nothing else to see"),),
                format=Format.ARTICLE,
                tags=("Venture-Capital", "china"),
            )
        )
        assert [(e.topic, e.words, e.via) for e in found] == [
            ("funding", ("#venture_capital",), "hashtag; 1st in the issue")
        ]

    def test_article_stories_share_the_article_topics(self, taxonomy: Taxonomy) -> None:
        """Every section of an article carries the topics of the whole article."""
        issue = Issue(
            "Chips and policy",
            dt.date(2026, 7, 1),
            (
                story("SMIC adds a foundry line"),
                story("Regulators publish rules on export controls"),
            ),
            format=Format.ARTICLE,
        )
        tagged = taxonomy.tag_issue(issue)
        assert tagged.stories[0].topics == tagged.stories[1].topics == ("chips", "policy")

    def test_parent_topics_are_given_too(self, tmp_path: Path) -> None:
        """A child topic gives its parent, with the reason shown."""
        path = tmp_path / "t.toml"
        path.write_text(
            '[[topic]]\nid = "hardware"\nkeywords = ["device"]\n'
            '[[topic]]\nid = "gpus"\nparent = "hardware"\nkeywords = ["GPU"]\n'
        )
        found = load_taxonomy(path).explain(story("A GPU"))
        assert [(e.topic, e.via) for e in found] == [("hardware", "parent of gpus"), ("gpus", None)]


class TestQuality:
    def test_labelled_set_precision_and_recall(self, taxonomy: Taxonomy) -> None:
        """Every topic keeps precision and recall of at least 0.75 on the labelled stories.

        A regression floor; bench/tagging.py prints the actual figures.
        """
        data = tomllib.loads((FIXTURES.parent / "data" / "labelled-stories.toml").read_text())
        labelled = [
            (Story(n, e["title"], e["summary"], why_it_matters=e["why"]), frozenset(e["topics"]))
            for n, e in enumerate(data["story"], start=1)
        ]
        assert len(labelled) >= 40
        scores = {s.topic: s for s in evaluate(taxonomy, labelled)}
        assert set(scores) == {*taxonomy.ids, GENERAL}
        for score in scores.values():
            assert score.true_positives > 0, score.topic
            assert score.precision >= 0.75 and score.recall >= 0.75, score


class TestValidation:
    def test_unknown_topic_lists_valid_ones(self, taxonomy: Taxonomy) -> None:
        """An unknown topic id is refused with the list of valid ids."""
        with pytest.raises(UnknownTopic) as info:
            taxonomy.validate(["chips", "bogus"])
        assert "unknown topic bogus" in str(info.value)
        assert "chips, models, funding" in str(info.value)

    def test_choice_is_normalised(self, taxonomy: Taxonomy) -> None:
        """Choices are trimmed, lowercased, de-duplicated and sorted."""
        assert taxonomy.validate([" Policy", "chips", "chips", ""]) == ("chips", "policy")


class TestLoading:
    def test_custom_file_replaces_the_default(self, tmp_path: Path) -> None:
        """A configured TOML taxonomy is used as written."""
        path = tmp_path / "t.toml"
        path.write_text('[[topic]]\nid = "space"\nlabel = "Space"\nkeywords = ["rocket"]\n')
        assert load_taxonomy(path).tag(story("A rocket launch")).topics == ("space",)

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("topic = 1", "no [[topic]] tables"),
            ('[[topic]]\nid = "Bad Id"', "topic Bad Id: id must be lowercase"),
            ('[[topic]]\nid = "general"', "topic general: id is reserved"),
            ('[[topic]]\nid = "a"\nkeywords = "x"', "topic a: keywords must be a list"),
            ("[[topic]\n", "t.toml: "),
            ('[[topic]]\nid = "a"\nparent = "b"', "topic a: parent 'b' is not a topic"),
            (
                '[[topic]]\nid = "a"\nparent = "b"\n[[topic]]\nid = "b"\nparent = "a"',
                "parents form a cycle",
            ),
            ('[[topic]]\nid = "a"\nkeyword = ["x"]', "topic a: unknown key keyword"),
        ],
    )
    def test_malformed_file_names_file_and_topic(
        self, tmp_path: Path, content: str, message: str
    ) -> None:
        """Errors in a taxonomy file name the file and the topic at fault."""
        path = tmp_path / "t.toml"
        path.write_text(content)
        with pytest.raises(TaxonomyError, match="t.toml") as info:
            load_taxonomy(path)
        assert message in str(info.value)
