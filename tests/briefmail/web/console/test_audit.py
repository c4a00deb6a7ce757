"""/admin/audit over HTTP: the log newest first, filtered by actor and action, paged by cursor."""

from __future__ import annotations

import re

from briefmail.accounts.models import Role
from briefmail.web.console.audit import PAGE
from tests.briefmail.web.console.conftest import Console


def targets(html: str) -> list[str]:
    """The target column of the page's rows, top to bottom."""
    return re.findall(r"<td>(subscriber:[^<]*)</td>", html)


class TestAuditPage:
    def test_shows_sign_ins_and_changes_with_who_and_where(self, console: Console) -> None:
        """The owner's sign-in, a failed one and a CLI change show, newest first, with the IP."""
        console.app.operators.add("ada@example.org", Role.EDITOR, "a long enough password")
        with console.client() as client:
            refused = client.post("/admin/login", data={"email": "x@example.org", "password": "y"})
            assert refused.status_code in (400, 401, 403)
            console.login(client, Role.OWNER)
            page = client.get("/admin/audit")
        assert page.status_code == 200
        text = page.text
        assert "login.ok" in text and "console:owner@example.org" in text
        assert text.index("login.ok") < text.index("operator.add")  # newest first
        assert "127.0.0.1" in text
        assert (
            "{&#34;email&#34;: &#34;ada@example.org&#34;, &#34;role&#34;: &#34;editor&#34;}" in text
        )

    def test_filters_and_pages_keep_each_other(self, console: Console) -> None:
        """actor/action narrow the log; 'Older entries' goes on from the last row shown."""
        for n in range(PAGE + 5):
            console.app.audit.record("cli:alice", "subscriber.erase", f"subscriber:{n}@example.org")
        console.app.audit.record("api:cms", "issue.approve", "issue:1")
        with console.client() as client:
            console.login(client, Role.OWNER)
            first = client.get(
                "/admin/audit", params={"actor": "cli:alice", "action": "subscriber"}
            )
            assert first.status_code == 200
            shown = targets(first.text)
            assert len(shown) == PAGE and shown[0] == f"subscriber:{PAGE + 4}@example.org"
            assert "issue.approve" not in first.text and "login.ok" not in first.text
            older = re.search(r'href="(/admin/audit\?[^"]+)" rel="next"', first.text)
            assert older is not None
            link = older.group(1).replace("&amp;", "&")
            assert "actor=cli%3Aalice" in link and "action=subscriber" in link
            second = client.get(link)
            assert targets(second.text) == [f"subscriber:{n}@example.org" for n in range(4, -1, -1)]
            assert 'rel="next"' not in second.text
            none = client.get("/admin/audit", params={"action": "nothing.like.this"})
            assert "No entries match these filters." in none.text
            bad = client.get("/admin/audit", params={"before": "soon"})
            assert bad.status_code == 400 and "before" in bad.text

    def test_only_owners_read_the_log(self, console: Console) -> None:
        """A viewer is refused with the styled 403 page."""
        with console.client() as client:
            console.login(client, Role.VIEWER)
            refused = client.get("/admin/audit")
        assert refused.status_code == 403 and "This needs the owner role" in refused.text
