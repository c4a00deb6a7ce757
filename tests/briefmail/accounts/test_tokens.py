"""API tokens: shown once, stored as a hash, verified, throttled last-use writes, revoked."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select

from briefmail.accounts.models import ApiToken, Scope
from briefmail.accounts.tokens import InvalidTokenName, UnknownToken
from briefmail.app import Briefmail


def stored(app: Briefmail) -> list[ApiToken]:
    """Every token row."""
    with app.sessions() as session:
        return list(session.scalars(select(ApiToken)))


class TestTokens:
    def test_only_the_hash_is_stored_and_the_token_verifies(self, app: Briefmail) -> None:
        """The raw token is bm_ + 32 random bytes; the row holds its SHA-256, not the token."""
        raw, view = app.tokens.create("cms", Scope.WRITE, "cli:alice")
        assert raw.startswith("bm_") and len(raw) == 3 + 43
        (row,) = stored(app)
        assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
        assert all(raw not in str(value) for value in vars(row).values())
        assert view.prefix == raw[:9] and view.actor == "api:cms"
        assert (view.scope, view.created_by, view.last_used_at) == (Scope.WRITE, "cli:alice", None)
        verified = app.tokens.verify(raw)
        assert verified is not None and verified.id == view.id
        assert verified.last_used_at is not None
        (entry,) = app.audit.entries(action="token")
        assert (entry.action, entry.actor, entry.target) == (
            "token.create",
            "cli:alice",
            f"token:{view.id}",
        )
        assert entry.after == {"name": "cms", "scope": "write", "prefix": view.prefix}

    def test_wrong_malformed_and_revoked_tokens_do_not_verify(self, app: Briefmail) -> None:
        """Unknown, empty, foreign-looking and revoked tokens all give None."""
        raw, view = app.tokens.create("cms", "send")
        assert app.tokens.verify(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
        assert app.tokens.verify("") is None and app.tokens.verify(None) is None
        assert app.tokens.verify(raw[3:]) is None
        revoked = app.tokens.revoke(view.id, actor="console:ada@example.org")
        assert revoked.revoked_at is not None and not revoked.active
        assert app.tokens.verify(raw) is None
        assert app.tokens.revoke(view.id).revoked_at == revoked.revoked_at
        assert [e.action for e in app.audit.entries(action="token")] == [
            "token.revoke",
            "token.create",
        ]
        with pytest.raises(UnknownToken, match="id: no API token has id 999"):
            app.tokens.revoke(999)

    def test_last_use_is_written_at_most_once_a_minute(self, app: Briefmail) -> None:
        """A second verify within a minute leaves last_used_at; after a minute it moves."""
        raw, view = app.tokens.create("cms", Scope.READ)
        first = app.tokens.verify(raw)
        assert first is not None and first.last_used_at is not None
        second = app.tokens.verify(raw)
        assert second is not None and second.last_used_at == first.last_used_at
        with app.sessions() as session:
            row = session.get(ApiToken, view.id)
            assert row is not None
            row.last_used_at = first.last_used_at - dt.timedelta(minutes=2)
            session.commit()
        third = app.tokens.verify(raw)
        assert third is not None and third.last_used_at is not None
        assert third.last_used_at >= first.last_used_at

    def test_scopes_nest_and_bad_input_is_refused(self, app: Briefmail) -> None:
        """send ⊇ write ⊇ read; an unknown scope or an empty name names its field."""
        _, send = app.tokens.create("a", Scope.SEND)
        _, read = app.tokens.create("b", Scope.READ)
        assert send.may(Scope.READ) and send.may(Scope.WRITE) and send.may(Scope.SEND)
        assert read.may(Scope.READ) and not read.may(Scope.WRITE)
        with pytest.raises(ValueError, match="scope: 'admin' is not a scope"):
            app.tokens.create("c", "admin")
        with pytest.raises(InvalidTokenName, match="name: a token needs a name"):
            app.tokens.create("  ", Scope.READ)
        with pytest.raises(InvalidTokenName, match="control characters"):
            app.tokens.create("two\nlines", Scope.READ)
        assert [t.name for t in app.tokens.list()] == ["b", "a"]
        assert app.tokens.get(send.id) == send
