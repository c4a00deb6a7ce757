"""`briefmail demo`: the whole send path on embedded defaults, needing nothing but the install.

A throwaway SQLite database, an embedded SMTP capture server on a free loopback port, the sample
issue shipped in the package and N subscribers with mixed topics and cadences. Every captured
message is written to the output folder as .eml and .html, with an index.html that says who got
which stories.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from importlib import resources
from pathlib import Path

from pydantic import SecretStr

from briefmail.app import Briefmail
from briefmail.settings import (
    DatabaseSettings,
    NewsletterSettings,
    SmtpSettings,
    isolated_settings,
)
from mailer.testing import CapturedMessage, SmtpSink
from scheduler.dispatch import SendReport
from subscribers.lists import get_list
from subscribers.models import Cadence
from subscribers.service import subscribe

__all__ = ["DemoResult", "DemoRow", "run_demo", "sample_issue_path"]


@dataclass(frozen=True, slots=True)
class DemoRow:
    """One captured message: who received it, their topics, and the stories it carried."""

    recipient: str
    topics: str
    stories: tuple[str, ...]
    eml: str
    html: str


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did."""

    report: SendReport
    subscribers: int
    weekly: int
    rows: tuple[DemoRow, ...]
    out_dir: Path
    issue_title: str
    stories_in_issue: int


@contextmanager
def sample_issue_path() -> Iterator[Path]:
    """The sample brief shipped with the package, as a real file path."""
    with resources.as_file(
        resources.files("briefmail.ops").joinpath("samples/sample-brief.txt")
    ) as p:
        yield p


def run_demo(out_dir: Path, subscribers: int = 50, seed: int = 7) -> DemoResult:
    """Run ingest → subscribe → send against an embedded SMTP sink; write what it captured."""
    if subscribers < 1:
        raise ValueError("--subscribers must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="briefmail-demo-") as workdir, SmtpSink() as sink:
        settings = isolated_settings(
            newsletter=NewsletterSettings(
                name="Sample AI Brief",
                **{"from": "Sample AI Brief <brief@example.org>"},
                postal_address="Sample Media Ltd · 1 Example Street · 10115 Berlin",
            ),
            database=DatabaseSettings(url=f"sqlite:///{Path(workdir) / 'demo.db'}"),
            smtp=SmtpSettings(host=sink.host, port=sink.port),
            secret_key=SecretStr(secrets.token_urlsafe(32)),
        )
        app = Briefmail(settings)
        try:
            app.migrate()
            newsletter, _ = app.ensure_default_list()
            with sample_issue_path() as sample:
                ingested = app.content.ingest(sample, newsletter.slug, approve=True)
            assert ingested.stored is not None
            weekly = _add_subscribers(app, newsletter.slug, subscribers, seed)
            report = asyncio.run(app.send_issue(ingested.stored.id))
        finally:
            app.close()
        rows = _write_messages(sink.messages, out_dir)
    _write_index(out_dir, rows, ingested.issue.title)
    return DemoResult(
        report=report,
        subscribers=subscribers,
        weekly=weekly,
        rows=tuple(rows),
        out_dir=out_dir,
        issue_title=ingested.issue.title,
        stories_in_issue=len(ingested.issue.stories),
    )


def _add_subscribers(app: Briefmail, slug: str, count: int, seed: int) -> int:
    """Subscribers with 1–3 random topics (a few with every topic); every fifth is weekly."""
    rng = random.Random(seed)
    topics = app.taxonomy.ids
    weekly = 0
    with app.sessions() as session:
        newsletter = get_list(session, slug)
        for n in range(1, count + 1):
            chosen = [] if n % 7 == 0 else rng.sample(topics, rng.randint(1, 3))
            cadence = Cadence.WEEKLY if n % 5 == 0 else Cadence.DAILY
            weekly += cadence == Cadence.WEEKLY
            subscribe(
                session,
                newsletter,
                f"reader{n:04d}@example.net",
                taxonomy=app.taxonomy,
                topics=chosen,
                cadence=cadence,
                confirmed=True,
            )
        session.commit()
    return weekly


_TOPICS_LINE = re.compile(r"because you subscribed to (.+?)\.\n", re.S)


def _write_messages(messages: list[CapturedMessage], out_dir: Path) -> list[DemoRow]:
    rows = []
    for message in messages:
        parsed = message.parsed()
        recipient = message.rcpt_to[0]
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", recipient)
        (out_dir / f"{stem}.eml").write_bytes(message.data)
        html_part = _part(parsed, "html")
        (out_dir / f"{stem}.html").write_text(html_part, encoding="utf-8")
        text = _part(parsed, "plain").replace("\r\n", "\n")
        stories = tuple(re.findall(r"^\d+\. (.+?)(?: \[\d+\])?$", text, re.M))
        topics_match = _TOPICS_LINE.search(text)
        topics = " ".join(topics_match.group(1).split()) if topics_match else ""
        rows.append(DemoRow(recipient, topics, stories, f"{stem}.eml", f"{stem}.html"))
    rows.sort(key=lambda row: row.recipient)
    return rows


def _part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    return str(body.get_content()) if body is not None else ""


def _write_index(out_dir: Path, rows: list[DemoRow], title: str) -> None:
    body = "\n".join(
        f"<tr><td>{html.escape(r.recipient)}</td><td>{html.escape(r.topics)}</td>"
        f"<td><ol>{''.join(f'<li>{html.escape(s)}</li>' for s in r.stories)}</ol></td>"
        f'<td><a href="{html.escape(r.html)}">HTML</a> · <a href="{html.escape(r.eml)}">.eml</a>'
        "</td></tr>"
        for r in rows
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>briefmail demo — {html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}}
table{{border-collapse:collapse}}td,th{{border-top:1px solid #ddd;padding:.4rem .6rem;
text-align:left;vertical-align:top}}ol{{margin:0;padding-left:1.2rem}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{len(rows)} messages captured by the demo SMTP server.</p>
<table><thead><tr><th>Recipient</th><th>Topics</th><th>Stories received</th><th>Message</th>
</tr></thead><tbody>
{body}
</tbody></table></body></html>
"""
    (out_dir / "index.html").write_text(page, encoding="utf-8")
