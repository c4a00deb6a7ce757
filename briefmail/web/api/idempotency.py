"""Idempotency keys: a POST that creates or sends, retried with its key, acts once.

The first request with a key claims it by inserting its row (UNIQUE per token and key) before it
acts, so of two concurrent requests with one key only one acts: the other finds the claim and is
told to retry (409 `idempotency_in_progress`). A successful answer is stored with the key and
replayed to every retry of the same request (same status and body, ``Idempotent-Replayed:
true``); the key sent with another route or another body is refused (422
`idempotency_key_reused`). A request that failed changed nothing (the library's operations are
all or nothing), so its claim is released and a retry with the key may act.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from briefmail.accounts.models import IdempotencyKey
from briefmail.web.api.errors import ApiError

if TYPE_CHECKING:
    from briefmail.web.api.auth import Caller

__all__ = ["MAX_KEY", "idempotent", "request_hash"]

#: The longest key accepted (the column's width).
MAX_KEY = 200


def request_hash(body: Any) -> str:
    """SHA-256 of the request as parsed (key order and whitespace do not make another body)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ApiError(
            422,
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_KEY} printable characters",
            field="Idempotency-Key",
        )
    return key


def _claim(caller: Caller, key: str, route: str, digest: str) -> IdempotencyKey | None:
    """Insert the key's row; None when it was ours to claim, else the row found."""
    sessions = caller.app.sessions
    with sessions() as session:
        session.add(
            IdempotencyKey(token_id=caller.token.id, key=key, route=route, request_hash=digest)
        )
        try:
            session.commit()
            return None
        except IntegrityError:
            session.rollback()
    with sessions() as session:
        found = session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.token_id == caller.token.id, IdempotencyKey.key == key
            )
        )
        if found is None:  # released between our insert and this read: the other failed
            raise ApiError(409, "idempotency_in_progress", "retry this request", field=None)
        session.expunge(found)
        return found


def _replay(found: IdempotencyKey, route: str, digest: str) -> JSONResponse:
    """The stored answer of an earlier request with this key, or why there is none."""
    if found.route != route or found.request_hash != digest:
        raise ApiError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request; use a new key for this one",
            field="Idempotency-Key",
        )
    if found.status_code is None or found.response is None:
        raise ApiError(
            409,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still being answered; retry shortly",
        )
    return JSONResponse(
        json.loads(found.response),
        status_code=found.status_code,
        headers={"Idempotent-Replayed": "true"},
    )


def _settle(caller: Caller, key: str, answer: JSONResponse | None) -> None:
    """Store the answer with the key, or (no answer: the request failed) release the key."""
    with caller.app.sessions() as session:
        where = (IdempotencyKey.token_id == caller.token.id, IdempotencyKey.key == key)
        if answer is None:
            session.execute(delete(IdempotencyKey).where(*where))
        else:
            row = session.scalar(select(IdempotencyKey).where(*where))
            if row is not None:
                row.status_code = answer.status_code
                row.response = bytes(answer.body).decode("utf-8")
        session.commit()


def idempotent(
    caller: Caller,
    key: str | None,
    route: str,
    body: Any,
    act: Callable[[], JSONResponse],
) -> JSONResponse:
    """``act()`` once per key: the first answer stored, replayed to retries of the request."""
    if key is None:
        return act()
    key = _check_key(key)
    digest = request_hash(body)
    found = _claim(caller, key, route, digest)
    if found is not None:
        return _replay(found, route, digest)
    try:
        answer = act()
    except BaseException:
        _settle(caller, key, None)
        raise
    _settle(caller, key, answer if answer.status_code < 300 else None)
    return answer
