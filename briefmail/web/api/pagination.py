"""Cursor pagination: ``?limit=50&cursor=…`` answers ``{"data": [...], "next_cursor": …}``.

A cursor is opaque to the client (URL-safe base64 of the last row's key), stable while rows are
added (unlike an offset), and ``next_cursor`` is null on the last page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Query

from briefmail.web.api.errors import ApiError

__all__ = ["MAX_LIMIT", "Page", "PageQuery", "decode_cursor", "encode_cursor", "page_of"]

#: The most rows one page holds, whatever ``limit`` asks for.
MAX_LIMIT = 500
DEFAULT_LIMIT = 50

T = TypeVar("T")


def encode_cursor(key: str | int) -> str:
    """The opaque cursor of a row's key."""
    text = f"{type(key).__name__[0]}:{key}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | int:
    """The key a cursor stands for; 422 `invalid_cursor` for one this API did not hand out."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, _, key = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        if kind == "i":
            return int(key)
        if kind == "s" and key:
            return key
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ApiError(422, "invalid_cursor", "cursor is not one this API handed out", field="cursor")


@dataclass(frozen=True, slots=True)
class PageQuery:
    """A request's ``limit`` and decoded ``cursor`` (None: from the start)."""

    limit: int
    after: str | int | None


def page_query(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(description="The `next_cursor` of the previous page.")
    ] = None,
) -> PageQuery:
    """The paging parameters of a listing route."""
    return PageQuery(limit, decode_cursor(cursor) if cursor else None)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows as JSON objects and the cursor of the next (None: the last page)."""

    data: list[dict[str, Any]]
    next_cursor: str | None

    def as_json(self) -> dict[str, Any]:
        """``{"data": [...], "next_cursor": …}``."""
        return {"data": self.data, "next_cursor": self.next_cursor}


def page_of(
    rows: Sequence[T],
    query: PageQuery,
    key: Callable[[T], str | int],
    shape: Callable[[T], dict[str, Any]],
) -> Page:
    """A page of rows already sorted by ``key`` (ascending), fetched with one row to spare.

    ``rows`` holds at most ``limit + 1`` rows after the cursor: the spare one only says that
    another page exists.
    """
    shown = list(rows[: query.limit])
    more = len(rows) > query.limit
    return Page(
        [shape(row) for row in shown],
        encode_cursor(key(shown[-1])) if more and shown else None,
    )


def after_cursor(
    rows: Sequence[T], query: PageQuery, key: Callable[[T], Any], *, descending: bool = False
) -> list[T]:
    """Of rows sorted by ``key``, those after the cursor, ``limit + 1`` of them (in memory)."""
    if query.after is None:
        chosen = list(rows)
    elif descending:
        chosen = [row for row in rows if key(row) < query.after]
    else:
        chosen = [row for row in rows if key(row) > query.after]
    return chosen[: query.limit + 1]
