"""Figures for `briefmail status` and `/metrics`: read from the ledger, in Prometheus' format."""

from __future__ import annotations

import re

import httpx
import pytest

from briefmail.app import Briefmail
from briefmail.ops.metrics import collect, prometheus_text
from briefmail.web import create_web
from mailer.testing import SmtpSink
from tests.conftest import FIXTURES, subscribe_readers

SAMPLE = re.compile(r'^briefmail_[a-z_]+(\{[a-z_]+="[^"\n]*"\})? -?[0-9.e+-]+$')


@pytest.mark.smtp_faults(refuse={"gone@example.net": (550, "5.1.1 No such user")})
async def test_figures_after_a_send_and_their_prometheus_text(
    app: Briefmail, smtp_sink: SmtpSink
) -> None:
    """Deliveries and runs by status, a recent send rate, suppressions; valid exposition text."""
    subscribe_readers(app, ["a@example.net", "b@example.net", "gone@example.net"])
    stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    await app.send_issue(stored.id)
    with app.sessions() as session:
        figures = collect(session)
    assert (figures.deliveries["delivered"], figures.deliveries["failed"]) == (2, 1)
    assert figures.runs["done"] == 1 and figures.unfinished == [] and figures.queue == 0
    assert figures.suppressions == {"hard bounce": 1}
    assert figures.rate == pytest.approx(3 / 60)
    text = prometheus_text(figures)
    assert 'briefmail_deliveries{status="delivered"} 2' in text.splitlines()
    for line in text.splitlines():
        assert line.startswith("# ") or SAMPLE.match(line), line

    transport = httpx.ASGITransport(app=create_web(app))
    token, _ = app.tokens.create("prometheus", "read")
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        anonymous = await client.get("/metrics")
        forged = await client.get("/metrics", headers={"authorization": "Bearer bm_forged"})
        response = await client.get("/metrics", headers={"authorization": f"Bearer {token}"})
    # Not for anyone who asks: how much mail goes where is the publisher's business.
    assert (anonymous.status_code, forged.status_code) == (401, 401)
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert anonymous.headers["www-authenticate"] == "Bearer" and "briefmail_" not in anonymous.text
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'briefmail_suppressions{reason="hard bounce"} 1' in response.text
