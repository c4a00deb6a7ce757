"""The REST API at /api/v1 (bearer tokens; OpenAPI at /api/docs)."""

from __future__ import annotations

from fastapi import APIRouter

from briefmail.app import Briefmail

__all__ = ["api_router"]


def api_router(app: Briefmail) -> APIRouter:
    """Every /api/v1 route, each behind a token of the scope it needs."""
    return APIRouter(prefix="/api/v1")
