"""The taxonomy file, explainable tagging, and validation of topic choices."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from mailer.content import GENERAL, Format, Issue, Story
from mailer.ingest import read_issue
from mailer.render import Renderer
from mailer.topics import (
    MAX_ISSUE_TOPICS,
    Score,
    Taxonomy,
    TaxonomyError,
    UnknownTopic,
    default_taxonomy,
    evaluate,
    load_taxonomy,
)
from tests.conftest import FIXTURES, ROOT
from tests.mailer.cases import render_all

HOLDOUT = FIXTURES.parent / "data" / "labelled-holdout.toml"
TUNING = FIXTURES.parent / "data" / "labelled-stories.toml"
#: The tuning stories as the package ships them, for the learned backstop to train on.
TRAINING = ROOT / "mailer" / "data" / "labelled-stories.toml"


@pytest.fixture(scope="module")
def rules() -> Taxonomy:
    """The shipped taxonomy's keyword rules alone, without the learned backstop."""
    return default_taxonomy(learned=False)


def story(text: str) -> Story:
    return Story(position=1, title=text, summary="")


def labelled(path: Path) -> list[tuple[Story, frozenset[str]]]:
    """The (story, expected topics) pairs of a labelled TOML file."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        (Story(n, e["title"], e["summary"], why_it_matters=e["why"]), frozenset(e["topics"]))
        for n, e in enumerate(data["story"], start=1)
    ]


def micro(scores: list[Score]) -> tuple[float, float]:
    """Micro-averaged precision and recall: every tag counts once, whatever its topic."""
    tp = sum(s.true_positives for s in scores)
    given = tp + sum(s.false_positives for s in scores)
    expected = tp + sum(s.false_negatives for s in scores)
    return (tp / given if given else 1.0, tp / expected if expected else 1.0)


def sections(*texts: str, format: Format = Format.ARTICLE, tags: tuple[str, ...] = ()) -> Issue:
    """An issue of one story (section) per text, each text its summary."""
    stories = tuple(Story(n, f"Part {n}", text) for n, text in enumerate(texts, start=1))
    return Issue("An issue", dt.date(2026, 7, 1), stories, format=format, tags=tags)


#: An article touching six topics; models and funding are what it is about.
BROAD = (
    "DeepSeek and Qwen lead open-weight models; each new reasoning model tops a benchmark.",
    "Labs raised a funding round at a high valuation from venture capital investors.",
    "A large language model, a multimodal model, a chatbot: the models multiply.",
    "Nvidia GPU supply matters; a data centre opened; a university paper appeared.",
    "Regulators watched, and revenue grew at the model makers.",
)


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

    def test_chinese_terms_match_inside_unspaced_text(self, taxonomy: Taxonomy) -> None:
        """A CJK keyword matches as a substring, since Chinese has no spaces between words."""
        assert "chips" in taxonomy.tag(story("国产车规级芯片迎来量产潮")).topics
        assert "funding" in taxonomy.tag(story("某机器人公司完成B轮融资")).topics
        # A Latin word inside Chinese text is still a whole word ("GPU", not "GPUx").
        (evidence,) = taxonomy.explain(story("租用GPU资源和显卡"))
        assert (evidence.topic, evidence.words) == ("chips", ("gpu", "显卡"))
        assert taxonomy.tag(story("今天天气很好，适合出门散步")).topics == (GENERAL,)

    def test_chinese_articles_get_their_topics(self, taxonomy: Taxonomy) -> None:
        """The WeChat fixtures, written in Chinese, get topics rather than general."""
        expected = {
            "wechat-chip-watch.txt": {"chips"},
            "wechat-policy-funding.txt": {"policy", "infrastructure"},
        }
        for name, topics in expected.items():
            issue, _ = read_issue(FIXTURES / "articles" / name, format=Format.ARTICLE.value)
            got = {t for s in taxonomy.tag_issue(issue).stories for t in s.topics}
            assert topics <= got and GENERAL not in got, (name, got)

    def test_no_match_is_general(self, taxonomy: Taxonomy) -> None:
        """A story no topic matches is tagged general."""
        assert taxonomy.tag(story("The editors wish you a good summer")).topics == (GENERAL,)

    def test_one_hint_is_not_enough(self, rules: Taxonomy) -> None:
        """To the rules a lone hint ('model') gives no topic; two hints or a keyword do."""
        assert rules.tag(story("A new model")).topics == (GENERAL,)
        assert "models" in rules.tag(story("The model beats every benchmark")).topics
        assert "models" in rules.tag(story("DeepSeek ships")).topics

    def test_passing_mentions_give_way_to_the_main_topic(self, taxonomy: Taxonomy) -> None:
        """Two hints in a story clearly about something else are not a topic of it."""
        text = "The SMIC foundry lifts 7 nm chip output; semiconductor capital raised"
        assert taxonomy.tag(Story(1, "Output rises", text)).topics == ("chips",)

    def test_a_second_keyword_outlasts_two_hints(self, tmp_path: Path) -> None:
        """Beside a topic scoring 5, one keyword stays a second topic; two hints do not.

        A keyword names something ("IPO"), so it is most often a story's second topic; only a
        topic three times as strong or more makes it an aside.
        """
        path = tmp_path / "t.toml"
        path.write_text(
            '[[topic]]\nid = "space"\nkeywords = ["rocket", "orbit", "crew"]\nhints = ["launch"]\n'
            '[[topic]]\nid = "money"\nkeywords = ["IPO"]\nhints = ["shares", "investors"]\n'
        )
        space = load_taxonomy(path)

        def topics(text: str) -> set[str]:
            return set(space.tag(Story(1, "Flight", text)).topics)

        main = "A rocket launch reached orbit"
        assert space.explain(Story(1, "Flight", main))[0].score == 5
        assert topics(f"{main}; an IPO is next") == {"space", "money"}
        assert topics(f"{main}; investors bought shares") == {"space"}
        assert topics(f"{main} with a crew; an IPO is next") == {"space"}

    def test_a_word_ending_a_hyphenated_compound_counts(self, taxonomy: Taxonomy) -> None:
        """'delivery-drone' is a drone and 'power-management chips' chips; 'chipset' is not."""
        assert "robotics" in taxonomy.tag(story("Delivery-drone operators get permits")).topics
        assert "chips" in taxonomy.tag(story("Power-chip makers cut prices")).topics
        assert "chips" not in taxonomy.tag(story("A chipset-free phone")).topics

    def test_explain_names_matching_words_and_scores(self, taxonomy: Taxonomy) -> None:
        """Explanations list each topic's matching words and its score."""
        found = {e.topic: e for e in taxonomy.explain(story("Regulators ban Nvidia GPU exports"))}
        assert found["chips"].words == ("gpu", "nvidia")
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


class TestLearnedBackstop:
    def test_it_adds_a_topic_no_word_list_has(self, taxonomy: Taxonomy, rules: Taxonomy) -> None:
        """A ministry that capped prices is policy to the backstop, said as learned evidence."""
        summary = "The ministry capped the prices that operators may charge for rented computing."
        text = Story(1, "Ministry caps prices", summary)
        assert "policy" not in rules.tag(text).topics
        found = {e.topic: e for e in taxonomy.explain(text)}
        assert found["policy"].words == ()
        assert found["policy"].describe().startswith("policy: - [score 2] (learned, p 0.")

    def test_it_adds_at_most_one_topic_and_keeps_the_rules(
        self, taxonomy: Taxonomy, rules: Taxonomy
    ) -> None:
        """On every tuning story the rules' topics stay, and at most one learned one joins."""
        for item, _ in labelled(TRAINING):
            learned = [e for e in taxonomy.explain(item) if (e.via or "").startswith("learned")]
            assert len(learned) <= 1, item.title
            kept = {e.topic for e in rules.explain(item)}
            assert kept <= {e.topic for e in taxonomy.explain(item)}, item.title

    def test_articles_are_left_to_the_rules(self, taxonomy: Taxonomy, rules: Taxonomy) -> None:
        """An article's topics come from its words alone: the backstop never adds one."""
        paths = [FIXTURES / "article-sample.txt", *sorted(FIXTURES.glob("articles/*.txt"))]
        for path in paths:
            issue, _ = read_issue(path, format=Format.ARTICLE.value)
            assert taxonomy.tag_issue(issue) == rules.tag_issue(issue), path.name

    def test_custom_taxonomies_have_no_backstop(self, tmp_path: Path) -> None:
        """A taxonomy file of one's own is tagged by its words only (the labels are ours)."""
        path = tmp_path / "t.toml"
        path.write_text('[[topic]]\nid = "policy"\nkeywords = ["rule"]\n')
        custom = load_taxonomy(path)
        assert not custom.learned
        assert custom.tag(story("The ministry capped prices")).topics == (GENERAL,)

    def test_the_package_ships_the_tuning_stories(self) -> None:
        """The training data in mailer/data is the tuning set the tests and benches read."""
        assert TRAINING.read_bytes() == TUNING.read_bytes()
        assert len(labelled(TRAINING)) >= 600

    def test_scikit_learn_is_imported_only_to_tag(self) -> None:
        """Loading the taxonomy (as `briefmail --help` does) leaves scikit-learn unimported."""
        code = (
            "import sys\nfrom mailer.content import Story\nfrom mailer.topics import "
            "default_taxonomy\nt = default_taxonomy()\nprint('sklearn' in sys.modules)\n"
            "t.tag(Story(1, 'A title', 'A summary'))\nprint('sklearn' in sys.modules)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert done.stdout.split() == ["False", "True"]


class TestAmbiguity:
    @pytest.mark.parametrize(
        "place", ["Beijing", "Washington", "Brussels", "Shenzhen", "China", "US", "EU"]
    )
    def test_a_place_name_never_makes_policy(self, taxonomy: Taxonomy, place: str) -> None:
        """A story set in a capital, with officials in it, is not about policy for that."""
        text = f"{place} officials and the government welcome a new {place} tea shop"
        assert "policy" not in taxonomy.tag(Story(1, f"{place} tea shop", text)).topics

    def test_policy_needs_a_policy_word(self, taxonomy: Taxonomy) -> None:
        """With a policy word (here: export controls) the same place story is policy."""
        text = "Beijing officials announce export controls on gallium"
        assert "policy" in taxonomy.tag(Story(1, "Gallium", text)).topics

    def test_places_are_refused_as_evidence(self, tmp_path: Path) -> None:
        """A place name in a topic's word lists is an error naming file, topic, key and word."""
        path = tmp_path / "t.toml"
        path.write_text('places = ["Beijing"]\n[[topic]]\nid = "policy"\nhints = ["beijing"]\n')
        with pytest.raises(TaxonomyError) as info:
            load_taxonomy(path)
        assert str(info.value).startswith(f"{path}: topic policy: hints: 'beijing' is a place")

    def test_a_weak_word_needs_a_second_hint(self, taxonomy: Taxonomy) -> None:
        """'low-altitude' alone (or with another weak word) is not robotics; with a hint it is."""
        six_g = "Operators test 6G links for low-altitude aircraft and autonomous networks"
        assert "robotics" not in taxonomy.tag(Story(1, "6G trial", six_g)).topics
        assert taxonomy.tag(Story(1, "6G trial", six_g)).topics == ("infrastructure",)
        drones = "Low-altitude flights by autonomous machines bring automation to farms"
        assert "robotics" in taxonomy.tag(Story(1, "Farm flights", drones)).topics

    def test_weak_words_score_beside_a_keyword(self, tmp_path: Path) -> None:
        """A weak word adds 1 to a topic found by a keyword and is named in the evidence."""
        path = tmp_path / "t.toml"
        path.write_text('[[topic]]\nid = "space"\nkeywords = ["rocket"]\nweak = ["launch"]\n')
        space = load_taxonomy(path)
        assert space.explain(story("A launch")) == []
        (found,) = space.explain(story("A rocket launch"))
        assert (found.words, found.score) == (("launch", "rocket"), 3)

    def test_ignored_phrases_are_no_evidence(self, taxonomy: Taxonomy) -> None:
        """'model' in 'business model' is not models; 'blue chip' and 'blue-chip' are not chips.

        Blue chips are the stock market's largest companies, which is business.
        """
        assert taxonomy.tag(story("A business model for every model year")).topics == ("business",)
        assert taxonomy.tag(story("Blue chip and blue-chip stocks")).topics == ("business",)
        assert "models" in taxonomy.tag(story("A model beats the benchmark")).topics


class TestWholeIssues:
    def test_an_article_keeps_at_most_three_topics(self, taxonomy: Taxonomy) -> None:
        """An article that touches six topics keeps its best, never more than three."""
        tagged = taxonomy.tag_issue(sections(*BROAD))
        topics = {t for s in tagged.stories for t in s.topics}
        assert len(topics) <= MAX_ISSUE_TOPICS
        assert {"models", "funding"} <= topics
        assert all(s.topics == tagged.stories[0].topics for s in tagged.stories)

    def test_explain_says_which_were_kept_and_which_dropped(self, taxonomy: Taxonomy) -> None:
        """The evidence ranks kept topics and gives each dropped one its reason."""
        evidence = taxonomy.explain_issue(sections(*BROAD))[0]
        kept = [e for e in evidence if not e.dropped]
        dropped = [e for e in evidence if e.dropped]
        assert kept[0].topic == "models" and kept[0].via == "1st in the issue"
        assert len(kept) <= MAX_ISSUE_TOPICS and dropped
        assert all(e.score <= kept[-1].score for e in dropped)
        reasons = " ".join(e.describe() for e in dropped)
        assert "dropped: a passing mention" in reasons or "an issue keeps 3 topics" in reasons
        assert {e.topic for e in kept} == set(
            taxonomy.tag_issue(sections(*BROAD)).stories[0].topics
        )

    def test_the_cap_ranks_by_score_summed_over_sections(self, tmp_path: Path) -> None:
        """With four equal topics, the ones repeated in more sections win the three places."""
        path = tmp_path / "t.toml"
        path.write_text("".join(f'[[topic]]\nid = "{w}"\nkeywords = ["{w}"]\n' for w in "abcd"))
        four = load_taxonomy(path)
        issue = sections("a b c d", "b c d", "b c d", "a b c d")
        evidence = four.explain_issue(issue)[0]
        assert [e.topic for e in evidence if not e.dropped] == ["b", "c", "d"]
        (a,) = (e for e in evidence if e.dropped)
        assert a.describe() == "a: a [score 4] -- dropped: ranked 4; an issue keeps 3 topics"

    def test_a_bulletin_item_keeps_its_own_topics_within_the_cap(self, tmp_path: Path) -> None:
        """A bulletin's items are tagged one by one, then only the issue's best three remain."""
        path = tmp_path / "t.toml"
        path.write_text("".join(f'[[topic]]\nid = "{w}"\nkeywords = ["{w}"]\n' for w in "abcd"))
        issue = sections("b c", "b c d", "d", "a", format=Format.BULLETIN)
        tagged = load_taxonomy(path).tag_issue(issue)
        assert [s.topics for s in tagged.stories] == [
            ("b", "c"),
            ("b", "c", "d"),
            ("d",),
            (GENERAL,),
        ]

    def test_a_bulletin_item_on_a_minor_topic_keeps_it(self, tmp_path: Path) -> None:
        """Within the cap, a bulletin item keeps its topic however small beside the others."""
        path = tmp_path / "t.toml"
        path.write_text(
            '[[topic]]\nid = "x"\nkeywords = ["x1", "x2", "x3", "x4", "x5"]\n'
            '[[topic]]\nid = "y"\nkeywords = ["y1"]\n'
        )
        issue = sections("x1 x2 x3 x4 x5", "y1", format=Format.BULLETIN)
        tagged = load_taxonomy(path).tag_issue(issue)
        assert [s.topics for s in tagged.stories] == [("x",), ("y",)]
        article = load_taxonomy(path).tag_issue(replace(issue, format=Format.ARTICLE))
        assert article.stories[0].topics == ("x",)

    def test_a_brief_keeps_every_story_topic(self, taxonomy: Taxonomy) -> None:
        """Per-story formats (briefs) are not capped: each story keeps what its text earns."""
        issue = sections(*BROAD, format=Format.BRIEF)
        topics = {t for s in taxonomy.tag_issue(issue).stories for t in s.topics}
        assert len(topics) > MAX_ISSUE_TOPICS


class TestUntaggedStories:
    def test_general_has_a_neutral_label(self, taxonomy: Taxonomy) -> None:
        """The group of stories no topic matches is headed "Also in the news", never "General"."""
        assert taxonomy.label(GENERAL) == "Also in the news"

    def test_no_email_shows_a_general_label(self, taxonomy: Taxonomy) -> None:
        """No rendered e-mail, HTML or text, labels a story or group "General"."""
        rendered = render_all(Renderer(taxonomy), taxonomy)
        brief = rendered["brief"]
        assert "Editors&#39; Note" in brief.html or "Editors' Note" in brief.html
        for name, message in rendered.items():
            assert ">General<" not in message.html, name
            assert "General" not in message.text, name


class TestQuality:
    def test_labelled_set_precision_and_recall(self, taxonomy: Taxonomy) -> None:
        """Every topic keeps precision and recall of at least 0.75 on the labelled stories.

        A regression floor; bench/tagging.py prints the actual figures.
        """
        tuning = labelled(TUNING)
        assert len(tuning) >= 150
        scores = {s.topic: s for s in evaluate(taxonomy, tuning)}
        assert set(scores) == {*taxonomy.ids, GENERAL}
        for score in scores.values():
            assert score.true_positives > 0, score.topic
            assert score.precision >= 0.75 and score.recall >= 0.75, score

    @pytest.mark.xfail(
        reason="issue 19's goal is not met: on hold-out 10 (62 stories written after the freeze "
        "at aa8a977, measured once at 794faae), the keyword rules with the learned backstop reach "
        "micro precision 0.88 and recall 0.75 (the rules alone 0.86/0.68); models recall 0.65, "
        "policy and robotics recall 0.67, business 0.60/0.60, general precision 0.60 (second "
        "topics said in words neither the lists nor the training stories have)",
        strict=True,
    )
    def test_holdout_meets_the_goals(self, taxonomy: Taxonomy) -> None:
        """On stories written after tuning: micro P and R >= 0.90, every topic >= 0.75.

        The quality gate of issue 19 on unseen text; `python -m bench.tagging` prints the
        figures. Strict xfail: when tagging reaches the goal this fails, and the mark goes.
        """
        scores = evaluate(taxonomy, labelled(HOLDOUT))
        assert min(micro(scores)) >= 0.90
        for score in scores:
            assert score.precision >= 0.75 and score.recall >= 0.75, score

    def test_holdout_stays_above_its_measured_floor(self, taxonomy: Taxonomy) -> None:
        """On the 62 hold-out stories, micro precision stays >= 0.88 and recall >= 0.74.

        A regression floor just under what was measured once when the hold-out was written
        (0.884 and 0.745, with the learned backstop).
        """
        holdout = labelled(HOLDOUT)
        assert len(holdout) >= 62
        precision, recall = micro(evaluate(taxonomy, holdout))
        assert precision >= 0.88 and recall >= 0.74, (precision, recall)

    def test_articles_keep_few_topics(self, taxonomy: Taxonomy) -> None:
        """Article fixtures keep at most three topics each and 2.5 or fewer on average."""
        paths = [FIXTURES / "article-sample.txt", *sorted(FIXTURES.glob("articles/*.txt"))]
        counts = []
        for path in paths:
            issue, _ = read_issue(path, format=Format.ARTICLE.value)
            counts.append(len({t for s in taxonomy.tag_issue(issue).stories for t in s.topics}))
        assert max(counts) <= MAX_ISSUE_TOPICS
        assert sum(counts) / len(counts) <= 2.5, counts


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
            (
                '[[topic]]\nid = "a"\nkeywords = ["x"]\nhints = ["X"]',
                "topic a: hints: 'X' is already in keywords",
            ),
            (
                '[[topic]]\nid = "a"\nkeywords = ["x"]\nignore = ["y z"]',
                "topic a: ignore: 'y z' contains none of the topic's words",
            ),
            ('[[topic]]\nid = "a"\nweak = "x"', "topic a: weak must be a list of strings"),
            ('places = "Paris"\n[[topic]]\nid = "a"', "places must be a list of strings"),
            ('place = ["Paris"]\n[[topic]]\nid = "a"', "t.toml: unknown key place"),
        ],
    )
    def test_malformed_file_names_file_and_topic(
        self, tmp_path: Path, content: str, message: str
    ) -> None:
        """Errors in a taxonomy file (its word lists too) name the file, topic and key at fault."""
        path = tmp_path / "t.toml"
        path.write_text(content)
        with pytest.raises(TaxonomyError, match="t.toml") as info:
            load_taxonomy(path)
        assert message in str(info.value)
