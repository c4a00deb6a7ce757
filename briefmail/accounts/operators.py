"""Operators: the people who sign in to the console, their roles, passwords and sessions.

Passwords are kept as argon2id hashes (rehashed on sign-in when the parameters change). A sign-in
does the same work and gives the same answer for an unknown address as for a wrong password, so
neither the message nor the time tells which addresses are operators. A session is a signed,
expiring cookie naming the operator, their session epoch and a random session id; a password
change or a removal raises the epoch, which ends every older session. The CSRF token is an HMAC
of the session id, so it is bound to one session and needs no storage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from briefmail.accounts import audit
from briefmail.accounts.models import Operator, Role
from subscribers.db import as_utc, utcnow
from subscribers.limits import RateLimiter
from subscribers.rules import InvalidAddress, RuleError, normalise_email

if TYPE_CHECKING:
    from argon2 import PasswordHasher
    from itsdangerous import URLSafeTimedSerializer
    from sqlalchemy.orm import Session

    from briefmail.app import Briefmail

__all__ = [
    "MIN_PASSWORD",
    "AccountError",
    "LastOwner",
    "LoginRefused",
    "LoginThrottled",
    "OperatorExists",
    "OperatorView",
    "Operators",
    "UnknownOperator",
    "WeakPassword",
    "check_password",
    "operator_address",
    "parse_role",
]

MIN_PASSWORD = 10
#: Longer passwords are refused: hashing megabytes on every attempt would be a cheap DoS.
MAX_PASSWORD = 1024
_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}
_REFUSED = "wrong e-mail address or password"
#: Keys of failed sign-ins held before the expired ones are swept out.
_SWEEP_AT = 10_000


class AccountError(RuleError):
    """A refused change to an operator or token; the message names the field and why."""


class WeakPassword(AccountError):
    """A password too short (or too long) to accept."""

    field = "password"


class UnknownOperator(AccountError, LookupError):
    """No operator has this address."""

    field = "email"


class OperatorExists(AccountError):
    """An operator with this address exists already."""

    field = "email"


class LastOwner(AccountError):
    """The change would leave the console without an owner."""

    field = "role"


class LoginRefused(Exception):
    """A sign-in refused: the same message whether the address or the password was wrong."""

    def __init__(self, message: str = _REFUSED) -> None:
        self.message = message
        super().__init__(message)


class LoginThrottled(Exception):
    """Too many failed sign-ins from this address or for this account: wait and retry."""

    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        minutes = max(1, math.ceil(retry_after_seconds / 60))
        super().__init__(
            f"too many failed sign-ins; try again in {minutes} minute{'s' if minutes > 1 else ''}"
        )


def parse_role(value: str | Role) -> Role:
    """A role from its name ("owner", "editor", "viewer"); a clear error naming the field."""
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise _RoleError(f"role: {value!r} is not a role (one of: {known})") from None


class _RoleError(AccountError):
    field = "role"


@dataclass(frozen=True, slots=True)
class OperatorView:
    """A stored operator as the faces see it (never the password hash)."""

    id: int
    email: str
    role: Role
    created_at: dt.datetime | None = None
    last_login_at: dt.datetime | None = None

    @property
    def actor(self) -> str:
        """The name this operator's actions carry in histories and the audit log."""
        return f"console:{self.email}"

    def may(self, role: Role) -> bool:
        """Whether this operator holds ``role`` or a higher one (owner ⊇ editor ⊇ viewer)."""
        return _RANK[self.role] >= _RANK[role]

    @classmethod
    def of(cls, operator: Operator) -> OperatorView:
        """The plain view of a stored operator."""
        return cls(
            operator.id,
            operator.email,
            Role(operator.role),
            as_utc(operator.created_at),
            as_utc(operator.last_login_at) if operator.last_login_at else None,
        )

    def as_json(self) -> dict[str, Any]:
        """The `briefmail users list --json` shape of one operator."""
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role.value,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


class _Throttle(RateLimiter):
    """Failed sign-ins per key in a sliding window, with how long until the next is allowed.

    In memory, like the public forms' limits: the console is served by one web process, and a
    restart forgetting the failures gives an attacker at most one more window's attempts.
    """

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 when it may now)."""
        if self.allows(key):
            return 0.0
        return max(0.0, self._events[key][0] + self.window - self._clock())

    def forget(self, key: str) -> None:
        """Drop the failures recorded for ``key`` (after its successful sign-in)."""
        self._events.pop(key, None)

    def allow(self, key: str) -> bool:
        """Record a failure for ``key``; the keys of the past are swept once they are many."""
        # Guessed addresses are keys too: without a sweep, a spray of them would pile up.
        if len(self._events) > _SWEEP_AT:
            for old in list(self._events):
                self.allows(old)  # drops a key whose failures have all left the window
        return super().allow(key)


def check_password(password: str) -> str:
    """The password, if long enough (and not absurdly long); else WeakPassword saying why."""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(
            f"password: needs at least {MIN_PASSWORD} characters (this one has {len(password)})"
        )
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"password: at most {MAX_PASSWORD} characters, please")
    return password


def operator_address(email: str) -> str:
    """An operator's address, normalised and lower-cased; InvalidAddress if bad.

    The local part too: a sign-in name is typed by hand, and nobody wants "Ada@" and "ada@" to
    be two operators.
    """
    return normalise_email(email).lower()


def _target(email: str) -> str:
    return f"operator:{email}"


class Operators:
    """Operators added, listed, signed in, and their sessions and CSRF tokens (`app.operators`)."""

    #: Salts keep a session cookie from being valid as any other signed value of the app.
    _SESSION_SALT: ClassVar[str] = "briefmail.console.session"
    _CSRF_CONTEXT: ClassVar[bytes] = b"briefmail.console.csrf:"

    def __init__(self, app: Briefmail, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._app = app
        console = app.settings.console
        window = console.login_window_minutes * 60
        self._by_ip = _Throttle(console.login_attempts, window, clock)
        self._by_account = _Throttle(console.login_attempts, window, clock)

    @cached_property
    def _hasher(self) -> PasswordHasher:
        from argon2 import PasswordHasher

        return PasswordHasher()  # argon2id with the library's current recommended parameters

    @cached_property
    def _dummy_hash(self) -> str:
        """A hash no password matches, verified for unknown addresses so timing tells nothing."""
        return self._hasher.hash(secrets.token_urlsafe(24))

    @cached_property
    def _serializer(self) -> URLSafeTimedSerializer:
        from itsdangerous import URLSafeTimedSerializer

        return URLSafeTimedSerializer(self._app.settings.secret(), salt=self._SESSION_SALT)

    # Managing operators

    def add(
        self,
        email: str,
        role: Role | str,
        password: str,
        *,
        actor: str | None = None,
        ip: str | None = None,
    ) -> OperatorView:
        """Add an operator with this role and password; OperatorExists if the address is taken."""
        address, role = operator_address(email), parse_role(role)
        hashed = self._hasher.hash(check_password(password))
        with self._app.sessions() as session:
            if self._find(session, address) is not None:
                raise OperatorExists(f"email: {address} is an operator already")
            # A random first epoch: SQLite may give a removed operator's id to the next one
            # added, and that one must not inherit the removed operator's live cookies.
            operator = Operator(
                email=address,
                role=role,
                password_hash=hashed,
                session_epoch=secrets.randbelow(2**30) + 1,
            )
            session.add(operator)
            try:
                session.flush()
            except IntegrityError:  # added by someone else since the check above
                raise OperatorExists(f"email: {address} is an operator already") from None
            view = OperatorView.of(operator)
            audit.write(
                session,
                actor or self._app.actor,
                "operator.add",
                _target(address),
                after={"email": address, "role": role.value},
                ip=ip,
            )
            session.commit()
        return view

    def available(self, email: str) -> str:
        """The normalised address if no operator has it yet; OperatorExists (or InvalidAddress)."""
        address = operator_address(email)
        with self._app.sessions() as session:
            if self._find(session, address) is not None:
                raise OperatorExists(f"email: {address} is an operator already")
        return address

    def list(self) -> list[OperatorView]:
        """Every operator, by address."""
        with self._app.sessions() as session:
            operators = session.scalars(select(Operator).order_by(Operator.email))
            return [OperatorView.of(operator) for operator in operators]

    def get(self, email: str) -> OperatorView:
        """The operator with this address; UnknownOperator if none."""
        with self._app.sessions() as session:
            return OperatorView.of(self._require(session, email))

    def remove(self, email: str, *, actor: str | None = None, ip: str | None = None) -> None:
        """Remove an operator (their sessions end); refused for the last owner."""
        with self._app.sessions() as session:
            operator = self._require(session, email)
            if operator.role is Role.OWNER:
                self._keep_an_owner(session, operator.email, "remove")
            before = {"email": operator.email, "role": Role(operator.role).value}
            # The epoch rises before the row goes, for any cookie checked in between.
            operator.session_epoch += 1
            session.flush()
            session.delete(operator)
            audit.write(
                session,
                actor or self._app.actor,
                "operator.remove",
                _target(before["email"]),
                before=before,
                ip=ip,
            )
            session.commit()

    def set_role(
        self, email: str, role: Role | str, *, actor: str | None = None, ip: str | None = None
    ) -> OperatorView:
        """Give an operator another role; demoting the last owner is refused."""
        role = parse_role(role)
        with self._app.sessions() as session:
            operator = self._require(session, email)
            old = Role(operator.role)
            if old is Role.OWNER and role is not Role.OWNER:
                self._keep_an_owner(session, operator.email, "demote")
            if old is not role:
                operator.role = role
                audit.write(
                    session,
                    actor or self._app.actor,
                    "operator.role",
                    _target(operator.email),
                    before={"role": old.value},
                    after={"role": role.value},
                    ip=ip,
                )
            session.flush()
            view = OperatorView.of(operator)
            session.commit()
        return view

    def set_password(
        self, email: str, password: str, *, actor: str | None = None, ip: str | None = None
    ) -> None:
        """Set an operator's password; every session they have open ends."""
        hashed = self._hasher.hash(check_password(password))
        with self._app.sessions() as session:
            operator = self._require(session, email)
            operator.password_hash = hashed
            operator.session_epoch += 1
            audit.write(
                session,
                actor or self._app.actor,
                "operator.passwd",
                _target(operator.email),
                ip=ip,
            )
            session.commit()

    def owners(self) -> int:
        """How many owners there are (the console needs at least one)."""
        with self._app.sessions() as session:
            count = session.scalar(
                select(func.count()).select_from(Operator).where(Operator.role == Role.OWNER)
            )
            return int(count or 0)

    # Signing in

    def authenticate(self, email: str, password: str, ip: str) -> OperatorView:
        """The operator these credentials name; LoginRefused or LoginThrottled otherwise."""
        try:
            address = operator_address(email)
        except InvalidAddress:
            address = email.strip().lower()[:320]
        account = f"account:{address}"
        wait = max(self._by_ip.retry_after(ip), self._by_account.retry_after(account))
        if wait > 0:
            raise LoginThrottled(math.ceil(wait))
        with self._app.sessions() as session:
            operator = self._find(session, address)
            matched = self._verify(operator, password)  # always hashes: timing tells nothing
            if operator is None or not matched:
                self._by_ip.allow(ip)
                self._by_account.allow(account)
                audit.write(session, f"console:{address}", "login.failed", _target(address), ip=ip)
                session.commit()
                raise LoginRefused()
            self._by_account.forget(account)
            operator.last_login_at = utcnow()
            audit.write(session, f"console:{operator.email}", "login.ok", _target(address), ip=ip)
            session.flush()
            view = OperatorView.of(operator)
            session.commit()
        return view

    def _verify(self, operator: Operator | None, password: str) -> bool:
        """Whether the password matches (a hash is always checked); rehashes a stale hash."""
        from argon2.exceptions import InvalidHashError, VerificationError

        stored = operator.password_hash if operator is not None else self._dummy_hash
        # An absurdly long password is checked as "" (never a stored one): same work, no match.
        candidate = password if len(password) <= MAX_PASSWORD else ""
        try:
            self._hasher.verify(stored, candidate)
        except (VerificationError, InvalidHashError):
            return False
        if operator is not None and self._hasher.check_needs_rehash(stored):
            operator.password_hash = self._hasher.hash(password)
        return operator is not None

    # Sessions and CSRF

    def open_session(self, operator: OperatorView) -> str:
        """A signed cookie value for this operator's new session (expires with session_hours)."""
        with self._app.sessions() as session:
            stored = session.get(Operator, operator.id)
            if stored is None:
                raise UnknownOperator(f"email: {operator.email} is not an operator")
            epoch = stored.session_epoch
        return str(self._serializer.dumps([operator.id, epoch, secrets.token_urlsafe(18)]))

    def session(self, cookie_value: str | None) -> OperatorView | None:
        """The operator a session cookie signs in; None if missing, forged, expired or ended."""
        payload = self._payload(cookie_value)
        if payload is None:
            return None
        operator_id, epoch, _ = payload
        with self._app.sessions() as session:
            operator = session.get(Operator, operator_id)
            if operator is None or operator.session_epoch != epoch:
                return None
            return OperatorView.of(operator)

    def csrf_token(self, cookie_value: str | None) -> str:
        """The CSRF token of this session ("" without a valid session: no form will pass)."""
        payload = self._payload(cookie_value)
        if payload is None:
            return ""
        key = self._app.settings.secret().encode()
        return hmac.new(key, self._CSRF_CONTEXT + payload[2].encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, cookie_value: str | None, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (compared in constant time)."""
        expected = self.csrf_token(cookie_value)
        return bool(expected and token) and hmac.compare_digest(expected, str(token))

    def _payload(self, cookie_value: str | None) -> tuple[int, int, str] | None:
        """(operator id, epoch, session id) of a genuine, unexpired cookie; else None."""
        from itsdangerous import BadSignature

        if not cookie_value:
            return None
        max_age = round(self._app.settings.console.session_hours * 3600)
        try:
            payload = self._serializer.loads(cookie_value, max_age=max_age)
        except BadSignature:  # forged, damaged or expired (SignatureExpired is one)
            return None
        match payload:
            case [int() as operator_id, int() as epoch, str() as session_id]:
                return operator_id, epoch, session_id
        return None

    # Helpers

    @staticmethod
    def _find(session: Session, address: str) -> Operator | None:
        return session.scalar(select(Operator).where(Operator.email == address))

    def _require(self, session: Session, email: str) -> Operator:
        address = operator_address(email)
        operator = self._find(session, address)
        if operator is None:
            raise UnknownOperator(f"email: {address} is not an operator")
        return operator

    @staticmethod
    def _keep_an_owner(session: Session, email: str, verb: str) -> None:
        """Refuse to remove or demote ``email`` when it is the only owner."""
        # Locked (PostgreSQL) so two owners demoting each other at once cannot both succeed.
        owners = session.scalars(
            select(Operator.id).where(Operator.role == Role.OWNER).with_for_update()
        ).all()
        if len(owners) <= 1:
            raise LastOwner(
                f"role: cannot {verb} {email}, the last owner; make another operator owner first"
            )
