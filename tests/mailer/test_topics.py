"""The taxonomy file, explainable tagging, and validation of topic choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer.content import GENERAL, Story
from mailer.topics import Taxonomy, TaxonomyError, UnknownTopic, load_taxonomy


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
        assert taxonomy.explain(story("new data\ncenters open"))["infrastructure"] == (
            "data\ncenters",
        )

    def test_no_match_is_general(self, taxonomy: Taxonomy) -> None:
        """A story no topic matches is tagged general."""
        assert taxonomy.tag(story("The editors wish you a good summer")).topics == (GENERAL,)

    def test_explain_names_matching_words(self, taxonomy: Taxonomy) -> None:
        """Explanations list the words that matched each topic."""
        found = taxonomy.explain(story("Regulators ban GPU exports"))
        assert found["chips"] == ("gpu",)
        assert "ban" in found["policy"]


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
