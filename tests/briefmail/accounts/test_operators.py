"""Operators: adding and removing them, roles, passwords, sign-in, throttling, sessions, CSRF."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from briefmail.accounts.models import Operator, Role
from briefmail.accounts.operators import (
    LastOwner,
    LoginRefused,
    LoginThrottled,
    OperatorExists,
    Operators,
    OperatorView,
    UnknownOperator,
    WeakPassword,
)
from briefmail.app import Briefmail
from subscribers.rules import InvalidAddress

PASSWORD = "correct horse battery"


def actions(app: Briefmail) -> list[str]:
    """The audit log's actions, oldest first."""
    return [entry.action for entry in reversed(app.audit.entries(limit=500))]


class TestManaging:
    def test_add_normalises_the_address_and_stores_only_an_argon2id_hash(
        self, app: Briefmail
    ) -> None:
        """The address is lower-cased, the password kept as argon2id, and the add audited."""
        view = app.operators.add("Ada@Example.ORG", Role.OWNER, PASSWORD)
        assert (view.email, view.role, view.actor) == (
            "ada@example.org",
            Role.OWNER,
            "console:ada@example.org",
        )
        with app.sessions() as session:
            stored = session.scalars(select(Operator)).one()
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash
        assert app.operators.get("ada@EXAMPLE.org").id == view.id
        (entry,) = app.audit.entries()
        assert (entry.action, entry.target, entry.actor) == (
            "operator.add",
            "operator:ada@example.org",
            app.actor,
        )
        assert entry.after == {"email": "ada@example.org", "role": "owner"}

    def test_bad_input_is_refused_with_the_field_named(self, app: Briefmail) -> None:
        """A short password, a bad address, an unknown role or a taken address change nothing."""
        with pytest.raises(WeakPassword, match=r"password: needs at least 10 characters \(.* 9\)"):
            app.operators.add("ada@example.org", Role.OWNER, "123456789")
        with pytest.raises(InvalidAddress):
            app.operators.add("not an address", Role.OWNER, PASSWORD)
        with pytest.raises(ValueError, match="role: 'boss' is not a role"):
            app.operators.add("ada@example.org", "boss", PASSWORD)
        app.operators.add("ada@example.org", "owner", PASSWORD)
        with pytest.raises(OperatorExists, match="email: ada@example.org is an operator already"):
            app.operators.add("ada@example.org", Role.VIEWER, PASSWORD)
        with pytest.raises(UnknownOperator, match="email: bob@example.org is not an operator"):
            app.operators.get("bob@example.org")
        assert [view.email for view in app.operators.list()] == ["ada@example.org"]
        assert actions(app) == ["operator.add"]

    def test_the_last_owner_cannot_be_removed_or_demoted(self, app: Briefmail) -> None:
        """With one owner, removing or demoting them is refused; with two, it works."""
        app.operators.add("ada@example.org", Role.OWNER, PASSWORD)
        app.operators.add("bob@example.org", Role.EDITOR, PASSWORD)
        with pytest.raises(LastOwner, match="last owner"):
            app.operators.remove("ada@example.org")
        with pytest.raises(LastOwner, match="last owner"):
            app.operators.set_role("ada@example.org", Role.EDITOR)
        assert app.operators.get("ada@example.org").role is Role.OWNER
        app.operators.set_role("bob@example.org", Role.OWNER)
        app.operators.set_role("ada@example.org", Role.VIEWER)
        with pytest.raises(LastOwner):
            app.operators.remove("bob@example.org")
        app.operators.remove("ada@example.org")
        assert [(v.email, v.role) for v in app.operators.list()] == [
            ("bob@example.org", Role.OWNER)
        ]
        assert actions(app) == [
            "operator.add",
            "operator.add",
            "operator.role",
            "operator.role",
            "operator.remove",
        ]
        (removed, demoted, *_) = app.audit.entries()
        assert removed.before == {"email": "ada@example.org", "role": "viewer"}
        assert (demoted.before, demoted.after) == ({"role": "owner"}, {"role": "viewer"})

    def test_roles_include_the_lower_ones(self) -> None:
        """An owner may do what an editor may, an editor what a viewer may; not the reverse."""
        viewer = OperatorView(1, "v@example.org", Role.VIEWER)
        editor = OperatorView(2, "e@example.org", Role.EDITOR)
        owner = OperatorView(3, "o@example.org", Role.OWNER)
        assert owner.may(Role.OWNER) and owner.may(Role.EDITOR) and owner.may(Role.VIEWER)
        assert editor.may(Role.EDITOR) and editor.may(Role.VIEWER) and not editor.may(Role.OWNER)
        assert viewer.may(Role.VIEWER) and not viewer.may(Role.EDITOR)


class TestSignIn:
    def test_a_right_password_signs_in_and_records_the_time(self, app: Briefmail) -> None:
        """authenticate returns the operator, sets last_login_at and audits login.ok with the IP."""
        app.operators.add("ada@example.org", Role.EDITOR, PASSWORD)
        view = app.operators.authenticate("ADA@example.org", PASSWORD, "192.0.2.1")
        assert view.email == "ada@example.org" and view.last_login_at is not None
        (entry, *_) = app.audit.entries()
        assert (entry.action, entry.actor, entry.ip) == (
            "login.ok",
            "console:ada@example.org",
            "192.0.2.1",
        )

    def test_unknown_address_and_wrong_password_read_the_same(self, app: Briefmail) -> None:
        """Both refusals carry one message, and both are audited as login.failed."""
        app.operators.add("ada@example.org", Role.EDITOR, PASSWORD)
        with pytest.raises(LoginRefused) as wrong:
            app.operators.authenticate("ada@example.org", "wrong password!", "192.0.2.1")
        with pytest.raises(LoginRefused) as unknown:
            app.operators.authenticate("nobody@example.org", PASSWORD, "192.0.2.1")
        with pytest.raises(LoginRefused) as malformed:
            app.operators.authenticate("not an address", PASSWORD, "192.0.2.1")
        assert wrong.value.message == unknown.value.message == malformed.value.message
        assert actions(app)[-3:] == ["login.failed"] * 3

    def test_an_unknown_address_costs_a_hash_like_a_known_one(self, app: Briefmail) -> None:
        """An unknown address is checked against a dummy hash: not answered in a fraction."""
        app.operators.add("ada@example.org", Role.EDITOR, PASSWORD)
        operators = app.operators
        with pytest.raises(LoginRefused):  # warms the dummy hash up
            operators.authenticate("nobody@example.org", "x" * 12, "192.0.2.9")

        def timed(email: str) -> float:
            start = time.perf_counter()
            with pytest.raises(LoginRefused):
                operators.authenticate(email, "wrong password!", f"192.0.2.{len(email)}")
            return time.perf_counter() - start

        known = min(timed("ada@example.org") for _ in range(2))
        unknown = min(timed("nobody@example.org") for _ in range(2))
        assert unknown > known / 3  # a lookup without hashing would be ~100 times faster

    def test_throttled_per_address_then_free_after_the_window(self, app: Briefmail) -> None:
        """login_attempts failures from one IP block it (any account); the window frees it."""
        now = [1000.0]
        operators = Operators(app, clock=lambda: now[0])
        app.operators.add("ada@example.org", Role.EDITOR, PASSWORD)
        for n in range(app.settings.console.login_attempts):
            with pytest.raises(LoginRefused):
                operators.authenticate(f"guess{n}@example.org", "wrong password!", "192.0.2.1")
        with pytest.raises(LoginThrottled) as throttled:
            operators.authenticate("ada@example.org", PASSWORD, "192.0.2.1")
        assert throttled.value.retry_after_seconds == 15 * 60
        assert operators.authenticate("ada@example.org", PASSWORD, "192.0.2.2").id
        now[0] += 15 * 60 + 1
        assert operators.authenticate("ada@example.org", PASSWORD, "192.0.2.1").id

    def test_throttled_per_account_from_any_address(self, app: Briefmail) -> None:
        """login_attempts failures for one account, from many IPs, block that account only."""
        operators = Operators(app)
        app.operators.add("ada@example.org", Role.EDITOR, PASSWORD)
        app.operators.add("bob@example.org", Role.EDITOR, PASSWORD)
        for n in range(app.settings.console.login_attempts):
            with pytest.raises(LoginRefused):
                operators.authenticate("ada@example.org", "wrong password!", f"198.51.100.{n}")
        with pytest.raises(LoginThrottled, match="too many failed sign-ins"):
            operators.authenticate("ada@example.org", PASSWORD, "203.0.113.7")
        assert operators.authenticate("bob@example.org", PASSWORD, "203.0.113.7").id
        # Throttled attempts are not audited: a flood must not flood the log.
        assert actions(app).count("login.failed") == app.settings.console.login_attempts

    def test_failures_of_the_past_are_swept_out_of_memory(
        self, app: Briefmail, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A spray of guessed addresses does not pile up: expired keys go once they are many."""
        monkeypatch.setattr("briefmail.accounts.operators._SWEEP_AT", 3)
        now = [0.0]
        operators = Operators(app, clock=lambda: now[0])
        for n in range(5):
            with pytest.raises(LoginRefused):
                operators.authenticate(f"guess{n}@example.org", "wrong password!", f"10.0.0.{n}")
        assert len(operators._by_account._events) == 5
        now[0] += app.settings.console.login_window_minutes * 60 + 1
        with pytest.raises(LoginRefused):
            operators.authenticate("late@example.org", "wrong password!", "10.0.1.1")
        assert list(operators._by_account._events) == ["account:late@example.org"]

    def test_a_stale_hash_is_rehashed_on_sign_in(self, app: Briefmail) -> None:
        """A hash made with weaker parameters is replaced by one with the current ones."""
        from argon2 import PasswordHasher

        view = app.operators.add("ada@example.org", Role.EDITOR, PASSWORD)
        weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
        with app.sessions() as session:
            operator = session.get(Operator, view.id)
            assert operator is not None
            operator.password_hash = weak
            session.commit()
        app.operators.authenticate("ada@example.org", PASSWORD, "192.0.2.1")
        with app.sessions() as session:
            renewed = session.get(Operator, view.id)
            assert renewed is not None and renewed.password_hash != weak
        assert PasswordHasher().check_needs_rehash(renewed.password_hash) is False


class TestSessions:
    def test_a_session_cookie_names_its_operator(self, app: Briefmail) -> None:
        """open_session's value gives the operator back; None and junk give None."""
        view = app.operators.add("ada@example.org", Role.OWNER, PASSWORD)
        cookie = app.operators.open_session(view)
        assert app.operators.session(cookie) == view
        assert app.operators.session(None) is None
        assert app.operators.session("") is None
        assert app.operators.session("garbage") is None

    def test_forged_expired_and_ended_cookies_give_none(
        self, app: Briefmail, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A changed signature, an old timestamp, a password change or a removal all end it."""
        view = app.operators.add("ada@example.org", Role.OWNER, PASSWORD)
        app.operators.add("bob@example.org", Role.OWNER, PASSWORD)
        cookie = app.operators.open_session(view)
        forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
        assert app.operators.session(forged) is None
        other_key = Operators(app)
        other_key._serializer.secret_keys = [b"another secret key of the same length!!"]
        assert app.operators.session(other_key.open_session(view)) is None

        hours = app.settings.console.session_hours
        past = int(time.time() - hours * 3600 - 5)
        with monkeypatch.context() as patch:
            patch.setattr(TimestampSigner, "get_timestamp", lambda self: past)
            expired = app.operators.open_session(view)
        assert app.operators.session(expired) is None

        second = app.operators.open_session(view)
        app.operators.set_password("ada@example.org", "a new password here")
        assert app.operators.session(cookie) is None and app.operators.session(second) is None
        fresh = app.operators.open_session(view)
        assert app.operators.session(fresh) == view
        app.operators.remove("ada@example.org")
        assert app.operators.session(fresh) is None

    def test_a_removed_operators_cookie_does_not_sign_in_the_next_one(self, app: Briefmail) -> None:
        """An operator added after a removal (perhaps given the same id) starts a new epoch."""
        app.operators.add("owner@example.org", Role.OWNER, PASSWORD)
        ada = app.operators.add("ada@example.org", Role.EDITOR, PASSWORD)
        cookie = app.operators.open_session(ada)
        app.operators.remove("ada@example.org")
        app.operators.add("eve@example.org", Role.EDITOR, PASSWORD)
        assert app.operators.session(cookie) is None

    def test_csrf_tokens_are_bound_to_one_session(self, app: Briefmail) -> None:
        """A session's token passes; another session's, an empty one, or none do not."""
        view = app.operators.add("ada@example.org", Role.OWNER, PASSWORD)
        first, second = app.operators.open_session(view), app.operators.open_session(view)
        token = app.operators.csrf_token(first)
        assert len(token) == 64
        assert app.operators.check_csrf(first, token)
        assert not app.operators.check_csrf(second, token)
        assert not app.operators.check_csrf(first, "")
        assert not app.operators.check_csrf(first, None)
        assert not app.operators.check_csrf(None, token)
        assert app.operators.csrf_token("forged") == ""
        assert not app.operators.check_csrf("forged", "")
