"""The operators' console at /admin: server-rendered pages, htmx for the live parts."""

from __future__ import annotations

from fastapi import APIRouter

from briefmail.app import Briefmail

__all__ = ["console_router"]


def console_router(app: Briefmail) -> APIRouter:
    """Every /admin page, each behind a signed-in operator of the role it needs."""
    return APIRouter(prefix="/admin")
