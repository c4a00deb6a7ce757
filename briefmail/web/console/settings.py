"""The settings at /admin/settings, read-only, and a deliverability check of them.

Owners only: the page names the relay, the database and the webhooks. Every setting is shown
as briefmail reads it (file, then BRIEFMAIL_* variables), with secrets masked: SecretStr values
(the SMTP password, the secret key), a password inside a URL, the path of a webhook address
(hook services put their secret there) and whether each webhook's secret variable is set.

The deliverability check says what DNS must publish for the DKIM key (its TXT record), whether
the From domain aligns with the signing domain (DMARC), and, on request, POSTs a one-click
unsubscribe (RFC 8058) to this site's own unsubscribe address with a token signed for a
subscription that cannot exist (id 0, a random key): no reader is touched, and the answer shows
that the route is reachable at base_url and answers a one-click POST as the RFC asks (at once,
plain text, no redirect, no cookie).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, SecretStr

from briefmail.app import Briefmail
from briefmail.settings import Settings, SettingsError
from briefmail.web.console.ui import CSRF, ConsoleUI, Owner

__all__ = ["MASK", "Check", "dkim_checks", "one_click_check", "router", "setting_rows"]

MASK = "••••"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the deliverability check: what was looked at, and whether it is fine."""

    name: str
    ok: bool | None  # None: not configured, nothing to judge
    detail: str
    #: A value to copy (the DKIM TXT record), shown as code.
    value: str = ""


# Settings, masked


def _masked_url(url: str, *, hide_path: bool = False) -> str:
    """A URL with any password in it masked (and, for webhooks, its path and query)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    if hide_path and (parts.path.strip("/") or parts.query):
        return urlunsplit((parts.scheme, netloc, f"/{MASK}", "", ""))
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _shown(value: Any) -> str:
    """A scalar setting as text ("—" when unset)."""
    if value is None:
        return "—"
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and "://" in value:
        return _masked_url(value)
    return str(value)


def _rows(prefix: str, value: Any) -> list[tuple[str, str]]:
    """(dotted key, shown value) for a setting and everything under it."""
    if isinstance(value, BaseModel):
        rows: list[tuple[str, str]] = []
        for name, field in type(value).model_fields.items():
            if field.exclude:
                continue
            key = f"{prefix}.{field.alias or name}" if prefix else field.alias or name
            rows.extend(_rows(key, getattr(value, name)))
        return rows
    if isinstance(value, dict):
        if not value:
            return [(prefix, "—")]
        return [row for key, item in value.items() for row in _rows(f"{prefix}.{key}", item)]
    if isinstance(value, list | tuple):
        if not any(isinstance(item, BaseModel | dict) for item in value):
            return [(prefix, ", ".join(_shown(item) for item in value) or "—")]
        return [row for n, item in enumerate(value) for row in _rows(f"{prefix}[{n}]", item)]
    return [(prefix, _shown(value))]


def _webhook_rows(settings: Settings) -> list[tuple[str, str]]:
    """Each webhook's address (path masked) and whether its secret variable is set."""
    rows = []
    for n, hook in enumerate(settings.webhooks):
        rows.append((f"webhooks[{n}].url", _masked_url(hook.url, hide_path=True)))
        state = f"{MASK} (set)" if os.environ.get(hook.secret_env) else "NOT SET"
        rows.append((f"webhooks[{n}].secret (${hook.secret_env})", state))
    return rows


def setting_rows(settings: Settings) -> list[tuple[str, str]]:
    """Every setting as (dotted key, value shown), secrets masked, in the file's order."""
    rows = []
    for key, value in _rows("", settings):
        if key.startswith("webhooks[") and key.endswith(".url"):
            continue  # shown by _webhook_rows, path masked
        if key == "secret_key" and value == "—":
            value = f"— (the key file {settings.security.secret_key_file} is used)"
        rows.append((key, value))
    return rows + _webhook_rows(settings)


# Deliverability


def dkim_checks(app: Briefmail) -> list[Check]:
    """The DKIM record DNS must publish, and whether the From domain aligns with it."""
    from mailer.message import domain_of

    cfg = app.settings.dkim
    sender = domain_of(app.settings.newsletter.from_)
    if not (cfg.domain and cfg.selector and cfg.key_file):
        return [
            Check(
                "DKIM signing",
                None,
                "Not configured: messages go out unsigned. Set [dkim] domain, selector and "
                "key_file; briefmail dkim keygen makes a key.",
            )
        ]
    aligned = sender == cfg.domain or sender.endswith("." + cfg.domain)
    alignment = Check(
        "From domain alignment",
        aligned,
        f"From domain {sender} {'aligns' if aligned else 'does NOT align'} with the signing "
        f"domain d={cfg.domain}"
        + ("" if aligned else ": DMARC fails; sign with the From domain or a parent of it."),
    )
    return [_dkim_record(app), alignment]


def _dkim_record(app: Briefmail) -> Check:
    """The TXT record for the configured key, or why the key cannot be used."""
    from mailer.dkim import dns_record

    try:
        signer = app.dkim
    except SettingsError as exc:
        return Check("DKIM key", False, str(exc))
    if signer is None:  # pragma: no cover - dkim_checks only asks when [dkim] is complete
        return Check("DKIM key", None, "Not configured.")
    name, value = dns_record(signer)
    return Check(
        "DKIM TXT record",
        True,
        f"Publish this TXT record at {name} ({signer.algorithm}); receivers check signatures "
        "against it.",
        value,
    )


def one_click_check(app: Briefmail, *, timeout: float = 5.0) -> Check:
    """POST a one-click unsubscribe, for a subscription that cannot exist, to our own site."""
    import httpx

    from subscribers.tokens import Purpose, TokenSigner

    # Subscription ids start at 1, and the key is random: nobody can be unsubscribed by it.
    token = TokenSigner(app.settings.secret()).make(
        Purpose.UNSUBSCRIBE, 0, secrets.token_urlsafe(12)
    )
    base = app.settings.newsletter.base_url.rstrip("/")
    name = "One-click unsubscribe (RFC 8058)"
    try:
        answer = httpx.post(
            f"{base}/unsubscribe/{token}",
            data={"List-Unsubscribe": "One-Click"},
            timeout=timeout,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return Check(name, False, f"{base}/unsubscribe/… could not be reached: {exc}")
    kind = answer.headers.get("content-type", "")
    problems = []
    if answer.status_code not in (200, 400):
        problems.append(f"answered {answer.status_code}")
    if answer.is_redirect:
        problems.append("redirected (RFC 8058 wants the answer itself)")
    if not kind.startswith("text/plain"):
        problems.append(f"answered {kind or 'no content type'}, not plain text")
    if "set-cookie" in answer.headers:
        problems.append("set a cookie")
    if problems:
        return Check(name, False, f"{base}/unsubscribe/… " + "; ".join(problems) + ".")
    said = answer.text.strip()[:120]
    return Check(
        name,
        True,
        f"{base}/unsubscribe/… answered a one-click POST at once: {answer.status_code}, plain "
        f"text ({said!r} — the test token names no reader), no redirect, no cookie.",
    )


def router(app: Briefmail, ui: ConsoleUI) -> APIRouter:
    """GET /settings (read-only) and POST /settings/check (the one-click self-test)."""
    routes = APIRouter()

    def show(request: Request, operator: Owner, one_click: Check | None = None) -> Response:
        return ui.page(
            request,
            operator,
            "settings.html",
            config_file=str(app.settings.config_file or ""),
            rows=setting_rows(app.settings),
            checks=dkim_checks(app),
            one_click=one_click,
            base_url=app.settings.newsletter.base_url,
        )

    @routes.get("/settings")
    def settings_page(request: Request, operator: Owner) -> Response:
        return show(request, operator)

    @routes.post("/settings/check", dependencies=[CSRF])
    def settings_check(request: Request, operator: Owner) -> Response:
        return show(request, operator, one_click_check(app))

    return routes
