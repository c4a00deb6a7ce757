"""The send bench's brief and config: a 10-story daily issue and a briefmail.toml for the sink.

Shared by bench/send.py, bench/plan.py and bench/console.py, which all send or plan this issue.
"""

from __future__ import annotations

from pathlib import Path

SENDER = "Bench Brief <brief@bench.example.org>"
DOMAIN = "bench.example.org"

ISSUE = """\
Bench Brief — 2026-07-14

Posted on July 14, 2026 at 06:30 AM

Top Stories

1. Memory Maker Doubles HBM Output at Its Second Fab

  • Silicon Ledger · 2026-07-14
  • Summary: A memory-chip maker said its second plant now turns out twice as many HBM stacks \
as in spring, most of them bound for AI accelerator cards.
  • Why It Matters: High-bandwidth memory has been the tightest part of the accelerator supply \
chain all year.
  • URL: https://bench.example.org/stories/hbm-second-fab

2. Lab Publishes Open-Weight Model With a Million-Token Context Window

  • Model Watch · 2026-07-13
  • Summary: A research lab released open weights for a mid-sized reasoning model that reads a \
million tokens of context and runs on a single server.
  • Why It Matters: Long-context open models let smaller teams build document tools without \
paying for a hosted API.
  • URL: https://bench.example.org/stories/million-token-open-weights

3. Chatbot Makers Cut Prices as Usage Climbs

  • Market Pulse · 2026-07-13
  • Summary: Three chatbot providers lowered their per-token prices for the second time this \
quarter while reporting record daily users.
  • Why It Matters: A price war among large language model vendors squeezes margins but widens \
adoption.
  • URL: https://bench.example.org/stories/chatbot-price-cuts

4. Robot-Vision Start-up Raises a Series C Round

  • Capital Desk · 2026-07-12
  • Summary: A start-up selling inspection software for factories closed a Series C round led \
by a state guidance fund and two venture capital firms.
  • Why It Matters: Investors are still writing large cheques for applied AI with paying \
customers.
  • URL: https://bench.example.org/stories/series-c-inspection

5. Ministry Drafts Rules on Labelling Synthetic Media

  • Policy Notes · 2026-07-14
  • Summary: The ministry published draft regulations requiring visible labels and hidden \
watermarks on generated images, audio and video.
  • Why It Matters: Platforms will need compliance tooling before the rules take effect next \
year.
  • URL: https://bench.example.org/stories/synthetic-media-labels

6. Western Province Opens a Hydropower-Fed Data Centre Cluster

  • Grid & Compute · 2026-07-11
  • Summary: A cluster of data centres powered by hydropower opened in the west, adding \
computing power for training clusters with liquid cooling throughout.
  • Why It Matters: Cheap, clean electricity is drawing compute away from coastal cities.
  • URL: https://bench.example.org/stories/hydropower-data-centres

7. New Export Controls Reach Older Lithography Tools

  • Trade Wire · 2026-07-13
  • Summary: Export controls announced this week extend to several older lithography systems \
and spare parts used by foundries.
  • Why It Matters: Fabs that relied on servicing installed tools face longer repair times.
  • URL: https://bench.example.org/stories/lithography-export-controls

8. E-commerce Group Folds Its AI Unit Into the Cloud Business

  • Company Watch · 2026-07-12
  • Summary: A large e-commerce group moved its AI division under the cloud business and named \
a new chief executive for the combined unit.
  • Why It Matters: The reorganisation ties model work more closely to revenue from enterprise \
customers.
  • URL: https://bench.example.org/stories/ai-unit-reorganisation

9. University Team Shows Smaller Models Can Check Their Own Proofs

  • Research Digest · 2026-07-10
  • Summary: A university group published a paper showing that a compact model trained on \
formal proofs can verify its own reasoning steps on a standard benchmark.
  • Why It Matters: Self-checking could make small models dependable enough for maths and \
code review.
  • URL: https://bench.example.org/stories/self-checking-proofs

10. Editors' Note: A Shorter Brief on Friday

  • Editors · 2026-07-14
  • Summary: Friday's issue will be shorter than usual while the team attends a conference.
  • Why It Matters: Regular length returns on Monday.
  • URL: Read more
"""


def write_config(
    path: Path, port: int, connections: int, dkim: bool, database_url: str = "sqlite:///bench.db"
) -> None:
    """A briefmail.toml for the bench: its database, the sink as relay, the bench's key."""
    signing = f'[dkim]\ndomain = "{DOMAIN}"\nselector = "bench"\nkey_file = "dkim.key"\n'
    path.write_text(
        f"""\
[newsletter]
slug = "bench"
name = "Bench Brief"
from = "{SENDER}"
base_url = "https://{DOMAIN}"
postal_address = "Bench Brief, 1 Example Street, 10115 Berlin"

[database]
url = "{database_url}"

[smtp]
host = "127.0.0.1"
port = {port}
connections = {connections}

{signing if dkim else ""}""",
        encoding="utf-8",
    )
