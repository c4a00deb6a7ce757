"""How large long issues are as sent, against Gmail's ~102 KB clipping limit.

    python -m bench.message_sizes

For a week's digest of seven 10-story briefs, a 30-story brief, a 30-story Chinese brief and a
200-story brief (the test cases of `tests/mailer/cases.py`), prints the HTML part in full (the
web version) and as sent (what the renderer chose: full, compact, or compact with stories left
out), in bytes of UTF-8 and in bytes as sent (quoted-printable, CRLF), with ~150-character
personal links filled in, and where the footer ends. Then one JSON line; the run is recorded in
bench/results/message_sizes.json.
"""

from __future__ import annotations

import json
from typing import Any

from bench.record import record
from mailer.content import Issue
from mailer.render import HTML_BUDGET, HTML_LIMIT, Rendered, Renderer, html_size
from mailer.topics import default_taxonomy
from tests.mailer.cases import (
    ARCHIVE_URL,
    LONG_LINKS,
    NEWSLETTER,
    chinese_brief,
    long_brief,
    week_digest,
)


def main() -> None:
    """Print the table and the JSON line, and record the rows."""
    taxonomy = default_taxonomy()
    renderer = Renderer(taxonomy)
    cases = {
        "7x10 week digest": week_digest(taxonomy),
        "30-story brief": long_brief(30),
        "30-story Chinese brief": chinese_brief(30),
        "200-story brief": long_brief(200),
    }
    rows = []
    print(f"limit {HTML_LIMIT:,} B as sent; the renderer aims at {HTML_BUDGET:,} B")
    print(f"{'case':24} {'layout':18} {'UTF-8':>9} {'as sent':>9} {'footer ends':>12}")
    for name, issue in cases.items():
        # None: the web version, in full; the budget: what the renderer sends.
        for budget in (None, HTML_BUDGET):
            row = measure(renderer, name, issue, budget)
            rows.append(row)
            print(
                f"{name:24} {row['layout']:18} {row['utf8']:>9,} {row['sent']:>9,} "
                f"{row['footer_end']:>12,}"
            )
    print(json.dumps({"bench": "message_sizes", "limit": HTML_LIMIT, "rows": rows}))
    record("message_sizes", {"limit": HTML_LIMIT, "budget": HTML_BUDGET, "rows": rows})


def measure(renderer: Renderer, name: str, issue: Issue, budget: int | None) -> dict[str, Any]:
    """One case rendered within ``budget`` (None: no budget), links filled: its sizes."""
    out = renderer.render_issue(
        issue,
        issue.stories,
        NEWSLETTER,
        topics=[],
        cadence="weekly",
        archive_url=ARCHIVE_URL,
        budget=budget,
    ).fill(LONG_LINKS)
    postal = NEWSLETTER.postal_address or ""
    return {
        "case": name,
        "layout": layout(out, budget),
        "utf8": len(out.html.encode()),
        "sent": html_size(out.html),
        # Where the footer (which ends with the postal address) ends, in bytes as sent.
        "footer_end": html_size(out.html[: out.html.rfind(postal) + len(postal)]),
    }


def layout(out: Rendered, budget: int | None) -> str:
    """What the renderer chose: the web version, or as sent: full, compact, compact minus N."""
    if budget is None:
        return "web (full)"
    if not out.compact:
        return "sent, full"
    return f"sent, compact, -{out.omitted}" if out.omitted else "sent, compact"


if __name__ == "__main__":
    main()
