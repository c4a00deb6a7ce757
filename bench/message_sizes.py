"""How large long issues are as sent, against Gmail's ~102 KB clipping limit.

    python bench/message_sizes.py

For a week's digest of seven 10-story briefs, a 30-story brief, a 30-story Chinese brief and a
200-story brief (the test cases of `tests/mailer/cases.py`), prints the HTML part in full (the
web version) and as sent (what the renderer chose: full, compact, or compact with stories left
out), in bytes of UTF-8 and in bytes as sent (quoted-printable, CRLF), with ~150-character
personal links filled in, and where the footer ends. Then one JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.render import HTML_BUDGET, HTML_LIMIT, Renderer, html_size  # noqa: E402
from mailer.topics import default_taxonomy  # noqa: E402
from tests.mailer.cases import (  # noqa: E402
    ARCHIVE_URL,
    LONG_LINKS,
    NEWSLETTER,
    chinese_brief,
    long_brief,
    week_digest,
)


def main() -> None:
    """Print the table and the JSON line."""
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
        for budget in (None, HTML_BUDGET):
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
            footer = html_size(out.html[: out.html.rfind(postal) + len(postal)])
            layout = (
                "web (full)"
                if budget is None
                else "sent, "
                + (
                    "full"
                    if not out.compact
                    else f"compact, -{out.omitted}"
                    if out.omitted
                    else "compact"
                )
            )
            row = {
                "case": name,
                "layout": layout,
                "utf8": len(out.html.encode()),
                "sent": html_size(out.html),
                "footer_end": footer,
            }
            rows.append(row)
            print(f"{name:24} {layout:18} {row['utf8']:>9,} {row['sent']:>9,} {footer:>12,}")
    print(json.dumps({"bench": "message_sizes", "limit": HTML_LIMIT, "rows": rows}))


if __name__ == "__main__":
    main()
