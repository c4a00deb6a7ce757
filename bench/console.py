"""How fast the console and the API answer over a list of many readers, against a static file.

    python -m bench.console                       # 20,000 readers, 30 timed requests a page
    python -m bench.console --readers 100000 --repeat 50

Builds a throwaway SQLite database with ``--readers`` confirmed readers (the importer's bulk
writer, as `bench.send` does) and one issue sent to 2,000 of them through a local sink (so the
run pages have a ledger to read), serves the whole web face with uvicorn on loopback, signs in
as an owner and asks each page ``--repeat`` times after one warm-up. The figure is the median
wall-clock time of a request; the ratio divides it by the median of the console's stylesheet
(a signed-in request that reads no table), measured in the same run, so a busy machine shows in
both. Printed as a table and appended to bench/results/console.json.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

from bench.brief import ISSUE
from bench.population import create_subscribers, people
from bench.record import record
from briefmail.accounts.models import Role, Scope
from briefmail.app import Briefmail
from briefmail.settings import DatabaseSettings, NewsletterSettings, SmtpSettings, isolated_settings
from briefmail.web import create_web
from mailer.testing import SmtpSink, free_port
from subscribers.lists import get_list

#: What is timed: (figure's name, label, path); the first is the baseline.
PAGES = (
    ("stylesheet", "stylesheet (baseline)", "/admin/static/console.css"),
    ("dashboard", "dashboard", "/admin"),
    ("subscribers", "subscribers, first page", "/admin/subscribers"),
    ("search", "subscribers, search", "/admin/subscribers?q=example.org&status=confirmed"),
    ("subscriber", "a subscriber", "/admin/subscribers/1"),
    ("issues", "issues", "/admin/issues"),
    ("issue", "an issue", "/admin/issues/1"),
    ("run", "a run", "/admin/runs/1"),
    ("progress", "a run's live fragment", "/admin/runs/1/progress"),
    ("api_subscribers", "API: subscribers page", "/api/v1/subscribers?limit=100"),
    ("api_run", "API: a run", "/api/v1/runs/1"),
)
PASSWORD = "a long enough password"


def build(folder: Path, readers: int, sink: SmtpSink, base: str) -> Briefmail:
    """A migrated app with ``readers`` confirmed readers and one issue sent to 2,000 of them."""
    app = Briefmail(
        isolated_settings(
            newsletter=NewsletterSettings(base_url=base, postal_address="1 Example Street"),
            database=DatabaseSettings(url=f"sqlite:///{folder / 'bench.db'}"),
            smtp=SmtpSettings(host=sink.host, port=sink.port),
            secret_key=SecretStr(secrets.token_urlsafe(32)),
        )
    )
    app.migrate()
    app.ensure_default_list()
    with app.sessions() as session:
        list_id = get_list(session, app.settings.newsletter.slug).id
    create_subscribers(app.engine, list_id, people(min(readers, 2_000), seed=7))
    issue = folder / "issue.txt"
    issue.write_text(ISSUE, encoding="utf-8")  # the bench's own brief (bench.send's)
    stored = app.ingest(issue, "brief", approve=True).stored
    assert stored is not None
    asyncio.run(app.sending.send(stored.id))
    if readers > 2_000:  # the rest join after the send: on the list, not in the run
        more = people(readers, seed=7)
        create_subscribers(app.engine, list_id, (p for n, p in enumerate(more) if n >= 2_000))
    app.operators.add("owner@example.org", Role.OWNER, PASSWORD)
    return app


@contextmanager
def served(app: Briefmail, port: int) -> Iterator[None]:
    """The whole web face on loopback while the block runs."""
    server = uvicorn.Server(
        uvicorn.Config(create_web(app), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def sign_in(client: httpx.Client) -> None:
    """Sign in through the real form."""
    form = client.get("/admin/login")
    token = re.search(r'name="csrf" value="([^"]*)"', form.text)
    assert token is not None
    data = {"email": "owner@example.org", "password": PASSWORD, "csrf": token.group(1)}
    assert client.post("/admin/login", data=data).status_code == 303


def median_ms(client: httpx.Client, path: str, repeat: int, headers: dict[str, str]) -> float:
    """The median time of ``repeat`` GETs of ``path`` (after one warm-up), in milliseconds."""
    assert client.get(path, headers=headers).status_code == 200, path
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(path, headers=headers)
        times.append(time.perf_counter() - start)
        assert answer.status_code == 200, (path, answer.status_code)
    return statistics.median(times) * 1000


def main() -> None:
    """Build, serve, time every page; print the table and record the run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, SmtpSink() as sink:
        app = build(Path(tmp), args.readers, sink, f"http://127.0.0.1:{port}")
        token, _ = app.tokens.create("bench", Scope.READ)
        medians: dict[str, float] = {}
        with served(app, port), httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            sign_in(client)
            for key, _, path in PAGES:
                headers = {"authorization": f"Bearer {token}"} if path.startswith("/api") else {}
                medians[key] = median_ms(client, path, args.repeat, headers)
        app.close()
    baseline = medians[PAGES[0][0]]
    print(f"{args.readers:,} readers, median of {args.repeat} requests each")
    print(f"{'page':<32} {'ms':>8} {'× baseline':>11}")
    figures: dict[str, float] = {"readers": args.readers, "repeat": args.repeat}
    for key, label, _ in PAGES:
        print(f"{label:<32} {medians[key]:>8.2f} {medians[key] / baseline:>11.1f}")
        figures[f"{key}_ms"] = round(medians[key], 2)
        if key != PAGES[0][0]:
            figures[f"{key}_x"] = round(medians[key] / baseline, 1)
    record("console", figures)


if __name__ == "__main__":
    main()
