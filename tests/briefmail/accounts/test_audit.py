"""The audit log: entries recorded with their JSON states, read newest first a page at a time."""

from __future__ import annotations

from briefmail.app import Briefmail


class TestAuditLog:
    def test_record_keeps_before_and_after_as_json(self, app: Briefmail) -> None:
        """What is recorded reads back the same: actor, action, target, states, address."""
        entry = app.audit.record(
            "console:ada@example.org",
            "issue.approve",
            "issue:12",
            before={"status": "draft"},
            after={"status": "approved", "stories": 8},
            ip="192.0.2.1",
        )
        (read,) = app.audit.entries()
        assert read == entry
        assert (read.before, read.after) == (
            {"status": "draft"},
            {"status": "approved", "stories": 8},
        )
        assert read.as_json()["at"] == entry.at.isoformat() and read.at.tzinfo is not None

    def test_pages_newest_first_with_a_cursor(self, app: Briefmail) -> None:
        """limit and before_id page through the log without repeating or skipping an entry."""
        for n in range(7):
            app.audit.record("cli:alice", "subscriber.erase", f"subscriber:{n}@example.org")
        first = app.audit.entries(limit=3)
        assert [e.target for e in first] == [f"subscriber:{n}@example.org" for n in (6, 5, 4)]
        second = app.audit.entries(limit=3, before_id=first[-1].id)
        third = app.audit.entries(limit=3, before_id=second[-1].id)
        assert [e.target for e in second + third] == [
            f"subscriber:{n}@example.org" for n in (3, 2, 1, 0)
        ]
        assert app.audit.entries(limit=3, before_id=third[-1].id) == []

    def test_filters_by_actor_and_action_family(self, app: Briefmail) -> None:
        """actor matches exactly; action matches a whole action or its dotted family."""
        app.audit.record("cli:alice", "operator.add", "operator:a@example.org")
        app.audit.record("api:cms", "issue.approve", "issue:1")
        app.audit.record("cli:alice", "operators_x.add")
        app.audit.record("cli:alice", "operator.remove", "operator:a@example.org")
        assert [e.action for e in app.audit.entries(actor="cli:alice", action="operator")] == [
            "operator.remove",
            "operator.add",
        ]
        assert [e.action for e in app.audit.entries(action="operator.add")] == ["operator.add"]
        assert [e.actor for e in app.audit.entries(action="issue.")] == ["api:cms"]
        assert app.audit.entries(actor="cli:bob") == []
        assert app.audit.entries(action="operator_") == []
