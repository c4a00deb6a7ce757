"""Issues for rendering tests: every format, extreme content, and a full 10-story brief.

Shared by test_render.py (official MJML validation, links, text parts) and
test_render_browser.py (real Chromium). All prose here is written for these tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from mailer.content import Format, Issue, Role, Story
from mailer.ingest import read_issue
from mailer.render import Newsletter, Rendered, Renderer, Slot
from mailer.topics import Taxonomy
from scheduler.editions import assemble_digest
from tests.conftest import FIXTURES

NEWSLETTER = Newsletter("Test Brief", "Test Brief", "1 Example Street, 10115 Berlin")
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
LINKS = {
    Slot.UNSUBSCRIBE_URL: "https://news.example.org/unsubscribe/t0k3n",
    Slot.PREFERENCES_URL: "https://news.example.org/preferences/t0k3n",
}
NOTICES = ("confirm", "welcome", "goodbye")


def hostile_stories() -> tuple[Story, ...]:
    """Markup an attacker might inject in every field, CJK, RTL, huge and empty fields."""
    return (
        Story(1, HOSTILE + " title", HOSTILE, HOSTILE, HOSTILE, HOSTILE, None, HOSTILE, ("chips",)),
        Story(
            2, "长标题" * 60, "中文摘要，包含“引号”。", "新华社", "2026-07-01", topics=("models",)
        ),
        Story(3, "عنوان عربي طويل", "نص عربي", url="https://example.com/r", topics=("general",)),
        Story(4, "A" * 300, "Unbroken " + "x" * 400, topics=("chips",)),
    )


def ten_story_brief() -> Issue:
    """A realistic full daily issue: ten stories with long summaries and some links."""
    summary = (
        "A provincial operator connected a new cluster of accelerators to its data centre, "
        "adding capacity that local start-ups can rent by the hour. The project was financed "
        "by a mix of state and private money and is due to double in size next year, while "
        "engineers work on cooling and power supply for the second phase. "
    )
    stories = tuple(
        Story(
            n,
            f"Story {n}: Operators Expand Computing Capacity in a Western Province",
            summary * 2,
            source="Example Wire",
            published="2026-07-01",
            why_it_matters="Capacity close to cheap power decides where training happens.",
            url=f"https://news.example.com/{n}" if n % 2 else None,
            link_text=None if n % 2 else "示例文章标题",
            topics=("infrastructure",) if n % 3 else ("chips", "funding"),
        )
        for n in range(1, 11)
    )
    return Issue("Test Brief — 2026-07-01", dt.date(2026, 7, 1), stories)


def issues(taxonomy: Taxonomy) -> dict[str, Issue]:
    """One issue per format from fixtures, plus hostile variants of each."""
    brief, _ = read_issue(FIXTURES / "brief-mixed.txt")
    bulletin, _ = read_issue(FIXTURES / "bulletin-sample.txt")
    article, _ = read_issue(FIXTURES / "article-sample.txt")
    brief, bulletin, article = (taxonomy.tag_issue(i) for i in (brief, bulletin, article))
    digest = assemble_digest(
        [brief, replace(brief, date=brief.date + dt.timedelta(days=1))],
        dt.date(2026, 6, 29),
        "Test Brief — week 2026-W27",
        taxonomy,
    )
    hostile = hostile_stories()
    return {
        "brief": brief,
        "digest": digest,
        "bulletin": bulletin,
        "article": article,
        "brief-ten": ten_story_brief(),
        "brief-hostile": Issue(HOSTILE, dt.date(2026, 7, 1), hostile),
        "digest-hostile": assemble_digest(
            [Issue(HOSTILE, dt.date(2026, 6, 30), hostile)], dt.date(2026, 6, 29), HOSTILE, taxonomy
        ),
        "bulletin-hostile": Issue(
            HOSTILE,
            dt.date(2026, 7, 1),
            hostile,
            format=Format.BULLETIN,
            period_end=dt.date(2026, 7, 7),
        ),
        "article-hostile": Issue(
            HOSTILE,
            dt.date(2026, 7, 1),
            tuple(
                replace(
                    s, role=Role.BACKGROUND if s.position > 2 else Role.SECTION, topics=("chips",)
                )
                for s in hostile
            ),
            format=Format.ARTICLE,
            tags=("edge_ai", HOSTILE),
        ),
    }


def render_all(renderer: Renderer, taxonomy: Taxonomy) -> dict[str, Rendered]:
    """Every template rendered and its links filled, keyed by case name."""
    rendered = {
        name: renderer.render_issue(
            issue, issue.stories, NEWSLETTER, topics=["chips", "models"], cadence="daily"
        ).fill(LINKS)
        for name, issue in issues(taxonomy).items()
    }
    for kind in NOTICES:
        for topics in ((), ("chips",)):
            name = f"{kind}{'-topics' if topics else ''}"
            rendered[name] = renderer.render_notice(
                kind,
                NEWSLETTER,
                action_url="https://news.example.org/confirm/t0k3n",
                topics=topics,
                unsubscribe_url="https://news.example.org/unsubscribe/t0k3n",
            )
    rendered["confirm-hostile"] = renderer.render_notice(
        "confirm",
        replace(NEWSLETTER, name=HOSTILE, postal_address=HOSTILE),
        action_url="https://news.example.org/confirm/t0k3n",
    )
    return rendered


def mjml_all(renderer: Renderer, taxonomy: Taxonomy) -> dict[str, str]:
    """The MJML source of every case (for the official validator)."""
    sources = {
        name: renderer.render_mjml(issue, issue.stories, NEWSLETTER, topics=["chips"], cadence="")
        for name, issue in issues(taxonomy).items()
    }
    for kind in NOTICES:
        sources[kind] = renderer.render_notice(
            kind,
            replace(NEWSLETTER, name=HOSTILE),
            action_url="https://x.org/c",
            topics=("chips",),
            unsubscribe_url="https://x.org/u",
            mjml_only=True,
        ).html
    return sources
