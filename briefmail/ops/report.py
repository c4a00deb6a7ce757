"""A run's report: who got what, what servers answered, and how fast — as data and as a page.

`briefmail runs show RUN` prints it; `--json` gives the data; `--html FILE` writes one
self-contained page (inline CSS, an inline SVG chart of deliveries per minute, no script, no
external request) that an operator can open or attach anywhere.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.ledger import (
    ANSWERED,
    Delivery,
    DeliveryStatus,
    Run,
    RunStatus,
    count_by_status,
    get_run,
)

__all__ = ["RunReport", "RunSummary", "build_report", "render_html", "summarize"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A run and its deliveries counted by status: what operators look at."""

    id: int
    kind: str
    period: str
    issue_id: int
    status: str
    counts: dict[str, int]
    skipped: dict[str, int]
    #: Why the run paused itself (our side's refusals), while it is paused.
    pause_reason: str | None = None

    def as_json(self) -> dict[str, object]:
        """The `briefmail runs list/show --json` shape."""
        return {
            "id": self.id,
            "kind": self.kind,
            "period": self.period,
            "issue_id": self.issue_id,
            "status": self.status,
            "counts": self.counts,
            "skipped": self.skipped,
            "pause_reason": self.pause_reason,
        }


def summarize(session: Session, run: Run) -> RunSummary:
    """Count a run's deliveries by status."""
    return RunSummary(
        id=run.id,
        kind=run.kind,
        period=run.period,
        issue_id=run.issue_id,
        status=str(run.status),
        counts=count_by_status(session, run.id),
        skipped=dict(run.skipped or {}),
        pause_reason=run.pause_reason if run.status == RunStatus.PAUSED else None,
    )


@dataclass(frozen=True, slots=True)
class RunReport:
    """Everything `runs show` says about one run."""

    summary: RunSummary
    #: variant → status → deliveries.
    by_variant: dict[str, dict[str, int]]
    #: SMTP reply code (as text; "none" when no server answered) → deliveries.
    by_reply: dict[str, int]
    #: (minute, outcomes recorded in it), oldest first.
    per_minute: list[tuple[dt.datetime, int]]
    #: (code, server text, deliveries) of failed and deferred deliveries, most frequent first.
    problems: list[tuple[int | None, str, int]]
    #: Refusals by whose fault they were (`mailer.replies.Reason`: gone, policy, …).
    by_reason: dict[str, int]

    def as_json(self) -> dict[str, object]:
        """The `briefmail runs show --json` shape."""
        return {
            **self.summary.as_json(),
            "by_variant": self.by_variant,
            "by_reply": self.by_reply,
            "per_minute": [[minute.isoformat(), n] for minute, n in self.per_minute],
            "problems": [
                {"code": code, "text": text, "deliveries": n} for code, text, n in self.problems
            ],
            "by_reason": self.by_reason,
        }


def build_report(session: Session, run_id: int, problems: int = 20) -> RunReport:
    """Gather a run's report (aggregate queries, and one pass over its outcome times)."""
    run = get_run(session, run_id)
    by_variant: dict[str, dict[str, int]] = {}
    for variant, status, n in session.execute(
        select(Delivery.variant, Delivery.status, func.count())
        .where(Delivery.run_id == run_id)
        .group_by(Delivery.variant, Delivery.status)
    ):
        by_variant.setdefault(variant, {})[str(status)] = n
    by_reply = {
        str(code) if code is not None else "none": n
        for code, n in session.execute(
            select(Delivery.last_code, func.count())
            .where(Delivery.run_id == run_id, Delivery.status.in_(ANSWERED))
            .group_by(Delivery.last_code)
            .order_by(Delivery.last_code)
        )
    }
    minutes: Counter[dt.datetime] = Counter()
    for (updated,) in session.execute(
        select(Delivery.updated_at).where(
            Delivery.run_id == run_id,
            Delivery.status.in_((DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)),
            Delivery.updated_at.is_not(None),
        )
    ).yield_per(10_000):
        if updated is not None:
            minutes[updated.replace(second=0, microsecond=0, tzinfo=None)] += 1
    failing = session.execute(
        select(Delivery.last_code, Delivery.last_text, func.count())
        .where(
            Delivery.run_id == run_id,
            Delivery.status.in_((DeliveryStatus.FAILED, DeliveryStatus.DEFERRED)),
        )
        .group_by(Delivery.last_code, Delivery.last_text)
        # Ties by code and text: the same report every time, on every database.
        .order_by(func.count().desc(), Delivery.last_code, Delivery.last_text)
        .limit(problems)
    ).all()
    by_reason = {
        str(reason): n
        for reason, n in session.execute(
            select(Delivery.last_reason, func.count())
            .where(Delivery.run_id == run_id, Delivery.last_reason.is_not(None))
            .group_by(Delivery.last_reason)
            .order_by(func.count().desc())
        )
    }
    return RunReport(
        summarize(session, run),
        dict(sorted(by_variant.items())),
        by_reply,
        sorted(minutes.items()),
        [(code, text or "", n) for code, text, n in failing],
        by_reason,
    )


def render_html(report: RunReport) -> str:
    """A self-contained HTML page of the report, with an SVG chart of outcomes per minute."""
    s = report.summary
    e = html.escape
    counts = "".join(
        f"<tr><td>{e(status)}</td><td>{n}</td></tr>" for status, n in s.counts.items() if n
    )
    variants = "".join(
        f"<tr><td>{e(variant if variant != '*' else 'every topic')}</td>"
        f"<td>{sum(statuses.values())}</td><td>{statuses.get('delivered', 0)}</td></tr>"
        for variant, statuses in report.by_variant.items()
    )
    replies = "".join(
        f"<tr><td>{e(code)}</td><td>{n}</td></tr>" for code, n in report.by_reply.items()
    )
    problems = (
        "".join(
            f"<tr><td>{code if code is not None else ''}</td><td>{e(text)}</td><td>{n}</td></tr>"
            for code, text, n in report.problems
        )
        or '<tr><td colspan="3">none</td></tr>'
    )
    skipped = ", ".join(f"{e(k)} {v}" for k, v in s.skipped.items()) or "none"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Run {s.id}: {e(s.kind)} {e(s.period)}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 960px; padding: 0 16px;
  color: #1d2733; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; }}
table {{ border-collapse: collapse; margin: 8px 0; }}
td, th {{ border-bottom: 1px solid #dde3ea; padding: 4px 12px 4px 0; text-align: left; }}
svg {{ width: 100%; height: auto; background: #f6f8fa; border-radius: 6px; }}
</style></head><body>
<h1>Run {s.id}: {e(s.kind)} {e(s.period)} · issue {s.issue_id} · {e(s.status)}</h1>
<h2>Outcomes per minute</h2>
{_chart(report.per_minute)}
<h2>Deliveries by status</h2><table>{counts}</table>
<p>Skipped when planned: {skipped}</p>
<h2>By variant (topics)</h2>
<table><tr><th>variant</th><th>planned</th><th>delivered</th></tr>{variants}</table>
<h2>By SMTP reply</h2><table><tr><th>code</th><th>deliveries</th></tr>{replies}</table>
<h2>Failures and deferrals</h2>
<table><tr><th>code</th><th>server said</th><th>deliveries</th></tr>{problems}</table>
</body></html>
"""


_LABEL = 'text-anchor="end" font-size="12"'


def _chart(points: list[tuple[dt.datetime, int]], width: int = 900, height: int = 260) -> str:
    """An inline SVG bar chart of outcomes per minute, with the peak and time labels."""
    pad_left, pad_bottom, pad_top = 56, 28, 16
    inner_w, inner_h = width - pad_left - 12, height - pad_bottom - pad_top
    if not points:
        return (
            f'<svg id="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="no outcomes yet"><text x="{width / 2}" y="{height / 2}" '
            'text-anchor="middle" fill="#66727f">no outcomes recorded yet</text></svg>'
        )
    first, last = points[0][0], points[-1][0]
    span = max(1, int((last - first).total_seconds() // 60) + 1)
    peak = max(n for _, n in points)
    bar = inner_w / span
    bars = []
    for minute, n in points:
        x = pad_left + int((minute - first).total_seconds() // 60) * bar
        h = inner_h * n / peak
        bars.append(
            f'<rect x="{x:.1f}" y="{pad_top + inner_h - h:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="#0b3d91"><title>{minute:%H:%M} UTC: {n}</title></rect>'
        )
    axis_y = pad_top + inner_h
    return (
        f'<svg id="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="outcomes per minute, peak {peak}">'
        f'<line x1="{pad_left}" y1="{axis_y}" x2="{width - 12}" y2="{axis_y}" stroke="#66727f"/>'
        f'<text x="{pad_left - 8}" y="{pad_top + 10}" {_LABEL}>{peak}</text>'
        f'<text x="{pad_left - 8}" y="{axis_y}" {_LABEL}>0</text>'
        f'<text x="{pad_left}" y="{height - 8}" font-size="12">{first:%Y-%m-%d %H:%M} UTC</text>'
        f'<text x="{width - 12}" y="{height - 8}" text-anchor="end" font-size="12">'
        f"{last:%H:%M} UTC</text>" + "".join(bars) + "</svg>"
    )
