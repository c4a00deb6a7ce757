"""Runs in the console: the list, a report, live progress, pause / resume / cancel (owners).

The live test sends from another process (`briefmail send`) while the console reads the ledger.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from briefmail.accounts.models import Role
from briefmail.web.console.runs import RESUMED
from tests.briefmail.web.console.conftest import Console, csrf_of
from tests.conftest import FIXTURES, start_briefmail, subscribe_readers

READERS = 30


def sent_issue(console: Console, readers: int = READERS) -> int:
    """Subscribe readers, ingest and approve the sample brief; the issue's id."""
    subscribe_readers(console.app, [f"r{n:03d}@example.net" for n in range(readers)])
    stored = console.app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
    assert stored is not None
    return stored.id


def count(html: str, status: str) -> int:
    """The count a progress fragment shows for one status."""
    found = re.search(rf'data-count="{status}">([\d\u202f]+)<', html)
    assert found is not None, html[:400]
    return int(found.group(1).replace("\u202f", ""))


class TestPages:
    def test_the_list_and_the_report_show_a_sent_run(self, console: Console) -> None:
        """After a send, /admin/runs lists the run and its page shows counts, replies, chart."""
        issue_id = sent_issue(console)
        report = asyncio.run(console.app.send_issue(issue_id))
        with console.client() as client:
            console.login(client, Role.VIEWER)
            listing = client.get("/admin/runs")
            assert listing.status_code == 200
            assert f'href="/admin/runs/{report.run_id}"' in listing.text
            assert f"{READERS} / {READERS}" in listing.text
            page = client.get(f"/admin/runs/{report.run_id}")
        assert page.status_code == 200
        assert count(page.text, "delivered") == READERS
        assert "100%" in page.text
        assert "<td>250</td>" in page.text  # the SMTP replies table
        assert 'role="img"' in page.text  # the per-minute chart
        assert "hx-trigger" not in page.text  # a finished run is not polled
        assert "Pause" not in page.text  # a viewer gets no buttons

    def test_an_unknown_run_is_a_styled_404(self, console: Console) -> None:
        """A run id that does not exist answers a page saying so, not a traceback."""
        with console.client() as client:
            console.login(client, Role.VIEWER)
            answer = client.get("/admin/runs/9999")
            bad = client.get("/admin/runs/not-a-number")
        assert answer.status_code == 404
        assert "there is no run 9999" in answer.text
        assert bad.status_code == 400
        assert "run_id" in bad.text


@pytest.mark.both_databases  # another process writes the ledger the page reads
@pytest.mark.smtp_faults(delay=0.04)
def test_progress_moves_while_another_process_sends(
    console: Console, database_url: str, tmp_path: Path
) -> None:
    """Counts climb while another process sends, reach 100%, and the page is told to reload.

    The run page's fragment reads the ledger; the status change (to done) sets HX-Refresh.
    """
    issue_id = sent_issue(console)
    run_id = console.app.sending.plan(issue_id)
    (tmp_path / "briefmail.toml").write_text(
        f'[database]\nurl = "{database_url}"\n'
        f'[smtp]\nhost = "{console.sink.host}"\nport = {console.sink.port}\nconnections = 1\n'
        "[delivery]\nbatch_size = 5\n",
        encoding="utf-8",
    )
    with console.client() as client:
        console.login(client, Role.VIEWER)
        first = client.get(f"/admin/runs/{run_id}")
        status = re.search(r'data-status="(\w+)"', first.text)
        assert status is not None
        was = status.group(1)
        assert f"/admin/runs/{run_id}/progress?was={was}" in first.text  # it polls
        sender = start_briefmail(tmp_path, "send", str(issue_id))
        seen: list[int] = []
        refreshed = False
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                fragment = client.get(f"/admin/runs/{run_id}/progress", params={"was": was})
                assert fragment.status_code == 200
                seen.append(count(fragment.text, "delivered"))
                if fragment.headers.get("hx-refresh") == "true":
                    refreshed = True
                if seen[-1] == READERS and "hx-trigger" not in fragment.text:
                    break
                time.sleep(0.15)
        finally:
            _, err = sender.communicate(timeout=60)
        assert sender.returncode == 0, err
    assert seen[-1] == READERS, seen
    assert any(0 < n < READERS for n in seen), f"never saw the run part-way: {seen}"
    assert seen == sorted(seen)
    assert refreshed
    assert "100%" in fragment.text


class TestControls:
    def test_an_owner_pauses_resumes_and_the_run_finishes(self, console: Console) -> None:
        """Pause stops a planned run, resume sends it from this server, each is audited."""
        issue_id = sent_issue(console, 5)
        run_id = console.app.sending.plan(issue_id)
        with console.client() as client:
            owner = console.login(client, Role.OWNER)
            page = client.get(f"/admin/runs/{run_id}")
            assert f'action="/admin/runs/{run_id}/pause"' in page.text
            paused = client.post(f"/admin/runs/{run_id}/pause", data={"csrf": csrf_of(page.text)})
            assert paused.status_code == 303
            page = client.get(f"/admin/runs/{run_id}")
            assert "is paused" in page.text
            assert 'data-status="paused"' in page.text
            resumed = client.post(f"/admin/runs/{run_id}/resume", data={"csrf": csrf_of(page.text)})
            assert resumed.status_code == 303
            RESUMED.wait(30)
        assert console.app.sending.counts(run_id)["delivered"] == 5
        actions = [e.action for e in console.app.audit.entries(actor=owner.actor)]
        assert {"run.pause", "run.resume"} <= set(actions)

    def test_cancel_stops_the_run_and_a_second_cancel_is_explained(self, console: Console) -> None:
        """Cancelling a run cancels what it still owes; cancelling it again says why not."""
        issue_id = sent_issue(console, 3)
        run_id = console.app.sending.plan(issue_id)
        with console.client() as client:
            console.login(client, Role.OWNER)
            page = client.get(f"/admin/runs/{run_id}")
            token = csrf_of(page.text)
            assert (
                client.post(f"/admin/runs/{run_id}/cancel", data={"csrf": token}).status_code == 303
            )
            again = client.post(f"/admin/runs/{run_id}/pause", data={"csrf": token})
            assert again.status_code == 303
            shown = client.get(f"/admin/runs/{run_id}")
        assert console.app.sending.counts(run_id)["cancelled"] == 3
        assert "cannot become paused" in shown.text
        assert "/pause" not in shown.text and "/cancel" not in shown.text
        assert "flash-error" in shown.text

    @pytest.mark.parametrize("verb", ["pause", "resume", "cancel"])
    @pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
    def test_only_owners_steer_a_run(self, console: Console, role: Role, verb: str) -> None:
        """A viewer or an editor with a valid token is refused (403) and the run is unchanged."""
        issue_id = sent_issue(console, 2)
        run_id = console.app.sending.plan(issue_id)
        before = console.app.sending.show(run_id).summary.status
        with console.client() as client:
            console.login(client, role)
            page = client.get(f"/admin/runs/{run_id}")
            answer = client.post(f"/admin/runs/{run_id}/{verb}", data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 403
        assert "needs the owner role" in answer.text
        assert console.app.sending.show(run_id).summary.status == before


def test_a_cross_site_pause_is_refused(console: Console) -> None:
    """Even an owner's session cannot be used by another site's form to pause a run."""
    issue_id = sent_issue(console, 2)
    run_id = console.app.sending.plan(issue_id)
    with console.client() as client:
        console.login(client, Role.OWNER)
        token = csrf_of(client.get(f"/admin/runs/{run_id}").text)
        for headers in ({"origin": "https://evil.example.com"}, {"sec-fetch-site": "cross-site"}):
            answer = client.post(
                f"/admin/runs/{run_id}/pause", data={"csrf": token}, headers=headers
            )
            assert answer.status_code == 403
            assert "another site" in answer.text
    assert console.app.sending.show(run_id).summary.status != "paused"
