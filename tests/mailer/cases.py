"""Issues for rendering tests: every format, extreme content, full briefs and a long week.

Shared by test_render.py (official MJML validation, links, text parts), test_render_size.py
(the size budget) and test_render_browser.py (real Chromium). All prose here is written for
these tests.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import random
from dataclasses import replace

from PIL import Image, ImageDraw

from mailer.brand import Brand, Logo
from mailer.content import Format, Issue, Role, Story
from mailer.ingest import read_issue
from mailer.render import Newsletter, Notice, Rendered, Renderer, Slot
from mailer.topics import Taxonomy
from scheduler.digests import assemble_digest
from tests.conftest import FIXTURES

ARCHIVE_URL = "https://news.example.org/archive/42"
#: Per-subscriber links as long as real ones (base URL, path and a signed token: ~150 chars).
LONG_LINKS = {
    Slot.UNSUBSCRIBE_URL: "https://news.example.org/unsubscribe/" + "u" * 113,
    Slot.PREFERENCES_URL: "https://news.example.org/preferences/" + "p" * 113,
}
NEWSLETTER = Newsletter("Test Brief", "Test Brief", "1 Example Street, 10115 Berlin")
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
LINKS = {
    Slot.UNSUBSCRIBE_URL: "https://news.example.org/unsubscribe/t0k3n",
    Slot.PREFERENCES_URL: "https://news.example.org/preferences/t0k3n",
}
NOTICES: tuple[Notice, ...] = ("confirm", "welcome", "goodbye")
#: When a welcome says the first issue arrives (the caller's ready phrase).
FIRST_ISSUE = "Tuesday 8 December at 07:00, your time (Europe/Paris)"


def tiny_logo(width: int = 120, height: int = 40, *, noise: bool = False) -> Logo:
    """A small PNG logo drawn with Pillow; with ``noise``, random pixels that do not compress."""
    if noise:
        pixels = random.Random(7).randbytes(width * height * 3)
        image = Image.frombytes("RGB", (width, height), pixels)
    else:
        image = Image.new("RGB", (width, height), "#ffffff")
        draw = ImageDraw.Draw(image)
        draw.rectangle((4, 4, height - 4, height - 4), fill="#b45309")
        draw.text((height + 4, height // 3), "Example Press", fill="#1f2933")
    data = io.BytesIO()
    image.save(data, "PNG", optimize=True)
    return Logo(data.getvalue(), "image/png", width, height, "Example Press")


#: A list with its own brand: an amber accent, a logo, a footer line and the publisher's links.
BRAND = Brand(
    accent="#b45309",
    logo=tiny_logo(),
    footer="Test Brief is published by Example Press, an independent newsroom.",
    website="https://press.example.org",
    privacy_url="https://press.example.org/privacy",
)
BRANDED = replace(NEWSLETTER, brand=BRAND)


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


# Ten kinds of news, each told in a few sentences; a week varies the place and the day, so every
# story of the week is its own (its own address too, so the digest merges none of them).
_KINDS = (
    (
        "chips",
        "Foundry in {place} Starts Trial Runs on a Denser Process",
        "The plant began trial wafers on Monday, three months after its clean rooms were "
        "certified. Managers expect usable yields by the autumn and say the first customers "
        "are designers of accelerators for phones. The equipment came from four suppliers, "
        "two of them local, and the operator has hired four hundred technicians since spring.",
    ),
    (
        "models",
        "Lab in {place} Publishes an Open Model That Reads Long Contracts",
        "Researchers released the weights of a language model trained to read documents of "
        "several hundred pages. It answers questions about clauses and dates and points to the "
        "page it used. The team says the model runs on a single workstation card and invites "
        "law firms to report its mistakes on a public tracker.",
    ),
    (
        "funding",
        "Start-up from {place} Raises a Series B for Warehouse Vision",
        "The company sells cameras and software that count stock on shelves overnight. Its new "
        "round was led by a logistics group and doubles the money raised so far. The founders "
        "plan to open offices in two more provinces and to hire sales staff for ports, where "
        "containers are counted by hand today.",
    ),
    (
        "policy",
        "Regulator in {place} Drafts Rules for Labelling Generated Images",
        "A draft published for comment asks platforms to mark pictures and videos made by "
        "software, visibly and in the file itself. Comments are open for thirty days. Industry "
        "groups welcomed the clarity but asked for a longer transition for small apps that "
        "cannot yet read the invisible marks.",
    ),
    (
        "infrastructure",
        "Operator Connects a New Computing Cluster Near {place}",
        "The cluster sits beside a hydro plant and rents capacity by the hour to universities "
        "and start-ups. Its first hall is full; a second opens in the winter. Engineers are "
        "testing liquid cooling in the new hall, which they say lowers power use by a fifth "
        "on the hottest days of the year.",
    ),
    (
        "robotics",
        "Hospital in {place} Tests Robots That Carry Samples Between Wards",
        "Six small robots now carry blood samples from wards to the laboratory at night. They "
        "use the service lifts and wait at doors for staff. Nurses say the trial saves each "
        "shift about an hour of walking; the hospital will decide in spring whether to buy a "
        "larger fleet for its second building.",
    ),
    (
        "research",
        "University in {place} Shows a Cheaper Way to Train Speech Models",
        "A paper from the computer science department trains speech recognition with a tenth "
        "of the usual labelled audio. The trick is to let the model label its own recordings "
        "and check them against subtitles. The authors released their code and a small data "
        "set of dialect recordings collected with volunteers.",
    ),
    (
        "business",
        "Phone Maker from {place} Adds an Assistant to Its Budget Range",
        "The company will ship an on-device assistant on phones that cost less than a weekly "
        "wage. It summarises messages and fills in forms without a network connection. "
        "Analysts say the cheaper chips in these phones made the feature hard to build and "
        "that rivals are likely to follow within a year.",
    ),
    (
        "chips",
        "Packaging Plant in {place} Doubles Its Output of Memory Stacks",
        "A second line for stacking memory dies opened this week. The plant supplies makers "
        "of servers for training models and had a waiting list of several months. Its owners "
        "say the new line brings delivery times down to six weeks and that a third line is "
        "planned if orders keep growing.",
    ),
    (
        "models",
        "Team in {place} Releases a Small Model for Farm Advice",
        "The model answers questions about crops, pests and weather in plain language and "
        "works offline on cheap tablets. Agricultural extension offices will hand it out to "
        "villages this season. Its makers trained it on manuals written by the offices "
        "themselves and on questions farmers asked by phone.",
    ),
)
_PLACES = ("Hefei", "Chengdu", "Wuhan", "Xi'an", "Suzhou", "Changsha", "Guiyang")


def week_of_briefs(stories_per_day: int = 10) -> list[Issue]:
    """Seven daily briefs of ten distinct, fully written stories each (a week's worth)."""
    monday = dt.date(2026, 6, 29)
    briefs = []
    for day, place in enumerate(_PLACES):
        date = monday + dt.timedelta(days=day)
        stories = tuple(
            Story(
                n,
                title.format(place=place),
                summary,
                source="Example Wire" if n % 3 else "Daily Example",
                published=date.isoformat(),
                why_it_matters="Where capacity and skills gather decides where firms grow next.",
                url=f"https://news.example.com/{date.isoformat()}/{n}-{topic}",
                topics=(topic,),
            )
            for n, (topic, title, summary) in enumerate(_KINDS[:stories_per_day], start=1)
        )
        briefs.append(Issue(f"Test Brief — {date.isoformat()}", date, stories))
    return briefs


def week_digest(taxonomy: Taxonomy) -> Issue:
    """The digest of a week of seven 10-story briefs: seventy stories."""
    return assemble_digest(
        week_of_briefs(), dt.date(2026, 6, 29), "Test Brief — week 2026-W27", taxonomy
    )


def ten_story_digest(taxonomy: Taxonomy) -> Issue:
    """The digest of one 10-story brief: a small week, as most weekly readers get it."""
    return assemble_digest(
        week_of_briefs()[:1], dt.date(2026, 6, 29), "Test Brief — week 2026-W27", taxonomy
    )


def long_brief(count: int = 30) -> Issue:
    """One brief with ``count`` fully written stories (e.g. a 30-story news day)."""
    week = [s for brief in week_of_briefs() for s in brief.stories]
    stories = tuple(
        replace(story, position=n, url=f"{story.url}?n={n}")
        for n, story in enumerate(itertools.islice(itertools.cycle(week), count), start=1)
    )
    return Issue("Test Brief — a long day", dt.date(2026, 7, 1), stories)


def chinese_brief(count: int = 30) -> Issue:
    """A brief in Chinese: three bytes of UTF-8 per character, so bytes are what count."""
    summary = (
        "一家地方运营商在水电站旁建成了新的计算集群，按小时向高校和初创企业出租算力。"
        "第一期机房已经满载，第二期将于冬季投入使用。工程师正在新机房测试液冷系统，"
        "他们说在一年中最热的日子里，这能把用电量降低五分之一。"
    )
    stories = tuple(
        Story(
            n,
            f"第{n}条：运营商在西部省份扩大算力规模",
            summary * 2,
            source="示例通讯社",
            published="2026-07-01",
            why_it_matters="靠近廉价电力的算力决定了模型在哪里训练。",
            url=f"https://news.example.com/zh/{n}",
            topics=("infrastructure",),
        )
        for n in range(1, count + 1)
    )
    return Issue("测试简报 — 2026-07-01", dt.date(2026, 7, 1), stories)


#: The newsletter cases `issues` builds, by name (every format, long and hostile ones).
NEWSLETTER_CASES = (
    "brief",
    "digest",
    "bulletin",
    "article",
    "brief-ten",
    "digest-week",
    "brief-thirty",
    "brief-chinese",
    "brief-overflow",
    "brief-hostile",
    "digest-hostile",
    "bulletin-hostile",
    "article-hostile",
)
#: The notices every rendering test covers besides the newsletters.
NOTICE_CASES = ("confirm", "welcome", "goodbye")


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
        "digest-week": week_digest(taxonomy),
        "brief-thirty": long_brief(30),
        "brief-chinese": chinese_brief(30),
        "brief-overflow": long_brief(200),
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


def render_all(
    renderer: Renderer, taxonomy: Taxonomy, newsletter: Newsletter = NEWSLETTER
) -> dict[str, Rendered]:
    """Every template rendered and its links filled, keyed by case name."""
    rendered = {
        name: renderer.render_issue(
            issue,
            issue.stories,
            newsletter,
            topics=["chips", "models"],
            cadence="daily",
            archive_url=ARCHIVE_URL,
        ).fill(LONG_LINKS)
        for name, issue in issues(taxonomy).items()
    }
    for kind in NOTICES:
        for topics in ((), ("chips",)):
            name = f"{kind}{'-topics' if topics else ''}"
            rendered[name] = renderer.render_notice(
                kind,
                newsletter,
                action_url="https://news.example.org/confirm/t0k3n",
                topics=topics,
                unsubscribe_url="https://news.example.org/unsubscribe/t0k3n",
            )
    rendered["welcome-latest"] = renderer.render_notice(
        "welcome",
        newsletter,
        action_url="https://news.example.org/preferences/t0k3n",
        unsubscribe_url="https://news.example.org/unsubscribe/t0k3n",
        first_issue=FIRST_ISSUE,
        latest_url=ARCHIVE_URL,
        latest_title="Test Brief — 2026-06-22",
    )
    rendered["confirm-hostile"] = renderer.render_notice(
        "confirm",
        replace(newsletter, name=HOSTILE, postal_address=HOSTILE),
        action_url="https://news.example.org/confirm/t0k3n",
    )
    return rendered


def mjml_all(
    renderer: Renderer, taxonomy: Taxonomy, newsletter: Newsletter = NEWSLETTER
) -> dict[str, str]:
    """The MJML source of every case (for the official validator)."""
    sources = {
        name: renderer.render_mjml(
            issue, issue.stories, newsletter, topics=["chips"], cadence="", archive_url=ARCHIVE_URL
        )
        for name, issue in issues(taxonomy).items()
    }
    for kind in NOTICES:
        sources[kind] = renderer.render_notice(
            kind,
            replace(newsletter, name=HOSTILE),
            action_url="https://x.org/c",
            topics=("chips",),
            unsubscribe_url="https://x.org/u",
            mjml_only=True,
        ).html
    return sources
