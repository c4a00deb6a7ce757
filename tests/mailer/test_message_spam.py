"""SpamAssassin's verdict on a daily issue exactly as the send path emits it.

The message is built the production way (Renderer → MessageFactory.template → .message: signed
links, list headers, a DKIM signature) and scored by Debian's `spamassassin`, offline: `-L` runs
local tests only (no DNS, RBL, URIBL, Razor or Pyzor), the rules are those the Debian package
ships (never an `sa-update` download), and the site configuration, user preferences and home
directory are the test's own, so the score depends on no machine state. Offline, the DKIM
signature is not checked (its key lives in DNS); test_dkim.py verifies it with dkimpy. The
message has no Received header: it is what we hand to the relay.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest

from mailer.content import Issue, Story
from mailer.dkim import DkimSigner, generate_key
from mailer.render import Renderer
from mailer.topics import Taxonomy, default_taxonomy
from scheduler.dispatch import ALL_TOPICS, MessageFactory
from subscribers.models import NewsletterList, new_token_key
from subscribers.tokens import TokenSigner
from tests.conftest import FIXTURES, require, require_tool
from tests.mailer.cases import NEWSLETTER

#: The rules Debian's spamassassin package ships (pinned, so an `sa-update` elsewhere is ignored).
RULES = Path("/usr/share/spamassassin")
#: Our site configuration: the stock plugin list, verdict headers, no Bayes.
SITE_CONFIG = FIXTURES / "spam"
LABELLED = FIXTURES.parent / "data" / "labelled-stories.toml"
#: A message scoring this or more fails (SpamAssassin's own spam threshold is 5.0).
LIMIT = 1.0
STORIES = 8
TIMEOUT = 120


@dataclass(frozen=True, slots=True)
class Verdict:
    """What SpamAssassin made of a message: its total score and the score of each rule hit."""

    score: float
    rules: Mapping[str, float]

    def explain(self) -> str:
        """The score and the rules that hit, highest score first, one per line."""
        ranked = sorted(self.rules.items(), key=lambda item: (-item[1], item[0]))
        lines = "".join(f"\n  {score:+7.3f}  {rule}" for rule, score in ranked)
        return f"SpamAssassin score {self.score:.3f}; rules hit:{lines or ' none'}"


def sample_issue(taxonomy: Taxonomy) -> Issue:
    """A daily issue of eight labelled test stories (the first of each topic), tagged by topic."""
    labelled = tomllib.loads(LABELLED.read_text(encoding="utf-8"))["story"]
    chosen: dict[str, dict[str, str]] = {}
    for item in labelled:
        chosen.setdefault(item["topics"][0], item)
    chosen.pop("general", None)
    stories = tuple(
        Story(
            position,
            item["title"],
            item["summary"],
            source="Example Wire",
            published="2026-07-01",
            why_it_matters=item["why"],
            url="https://news.example.com/2026/07/01/"
            + "-".join(item["title"].lower().replace("'", "").split()[:6]),
        )
        for position, item in enumerate(list(chosen.values())[:STORIES], start=1)
    )
    assert len(stories) == STORIES
    return taxonomy.tag_issue(Issue("Test Brief — 2026-07-01", dt.date(2026, 7, 1), stories))


def production_message(taxonomy: Taxonomy) -> bytes:
    """The issue as one reader of every topic gets it from a run: what goes to the relay."""
    newsletter_list = NewsletterList(
        slug="brief",
        name=NEWSLETTER.name,
        from_address="Test Brief <brief@news.example.org>",
        list_id="Test Brief <brief.news.example.org>",
    )
    factory = MessageFactory(
        renderer=Renderer(taxonomy),
        signer=TokenSigner(secrets.token_urlsafe(32)),
        base_url="https://news.example.org",
        newsletter_row=newsletter_list,
        newsletter=NEWSLETTER,
        issue=sample_issue(taxonomy),
        kind="daily",
        run_id=1,
        dkim=DkimSigner.from_pem("news.example.org", "brief", generate_key()),
    )
    template = factory.template(ALL_TOPICS)
    message = factory.message(
        template, "reader@example.net", subscription_id=7, delivery_id=42, key=new_token_key()
    )
    return message.data


def spamassassin(message: bytes, home: Path) -> Verdict:
    """Score a message offline with the packaged rules and our site configuration only."""
    executable = require_tool("spamassassin")
    require(RULES.is_dir(), f"SpamAssassin's rules are not installed at {RULES}")
    prefs = home / "user_prefs"
    prefs.write_text("")
    result = subprocess.run(
        [
            executable,
            "--local",
            "--nocreate-prefs",
            f"--configpath={RULES}",
            f"--siteconfigpath={SITE_CONFIG}",
            f"--prefspath={prefs}",
        ],
        input=message,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        env={"HOME": str(home), "PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "LANG": "C"},
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    headers = BytesHeaderParser().parsebytes(result.stdout)
    score, tests = headers["X-Spam-Score"], headers["X-Spam-Tests"]
    assert score is not None and tests is not None, result.stderr.decode(errors="replace")
    rules: dict[str, float] = {}
    for hit in "".join(tests.split()).split(","):
        if hit and hit != "none":
            rule, _, points = hit.partition("=")
            rules[rule] = float(points)
    return Verdict(float(score), rules)


@pytest.fixture(scope="module")
def verdict(tmp_path_factory: pytest.TempPathFactory) -> Verdict:
    """SpamAssassin's verdict on the sample issue, scored once for the module."""
    return spamassassin(production_message(default_taxonomy()), tmp_path_factory.mktemp("sa"))


class TestSpamAssassin:
    def test_a_daily_issue_scores_below_one(self, verdict: Verdict) -> None:
        """An eight-story daily issue as sent scores below 1.0 with SpamAssassin's local rules."""
        assert verdict.score < LIMIT, verdict.explain()

    def test_list_headers_earn_the_mailing_list_credit(self, verdict: Verdict) -> None:
        """SpamAssassin recognises the list headers as a mailing list's (MAILING_LIST_MULTI)."""
        assert verdict.rules.get("MAILING_LIST_MULTI", 0.0) < 0, verdict.explain()
