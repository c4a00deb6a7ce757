"""Branding settings: ``[publisher]`` and each ``[lists.SLUG]``'s look, resolved into `Brand`s.

A list takes the publisher's accent, logo, footer, links and description unless its own
section names other ones (so a publisher of one list writes them once). Everything is checked
when the settings are read: an accent without AA contrast, a logo too big or not an image, a
link that is not http(s) stops the start with the file and key named, rather than reaching a
reader as a broken page or e-mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from mailer.brand import DEFAULT_ACCENT, Brand, BrandError, check_accent, load_logo

__all__ = ["BrandFields", "ListSettings", "PublisherSettings", "resolve_brands"]


class BrandFields(BaseModel):
    """The brand keys a ``[publisher]`` or ``[lists.SLUG]`` section may set."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    #: One paragraph on what the list (or the publisher) is: front page and subscribe form.
    description: str = ""
    #: Masthead, buttons and links; must reach 4.5:1 against white (WCAG AA).
    accent: str | None = None
    #: A PNG, JPEG or GIF of at most 24 KB (relative to the config file), embedded everywhere.
    logo: Path | None = None
    #: The logo's text alternative (default: the list's name).
    logo_alt: str | None = None
    #: A line at the foot of every page and e-mail.
    footer: str | None = None
    website: str | None = None
    privacy_url: str | None = None

    @field_validator("accent")
    @classmethod
    def _contrast(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_accent(value)
        except BrandError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("website", "privacy_url")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL, e.g. https://example.org/privacy")
        return value


class PublisherSettings(BrandFields):
    """[publisher]: who runs the lists, shown on the front page, and the lists' default look."""

    #: The publisher's name on the front page (default: the default list's name).
    name: str | None = None


class ListSettings(BrandFields):
    """[lists.SLUG]: how one list's issues and pages present themselves (the list is stored)."""

    #: The Subject of the list's issues, e.g. "{list} · {date:%a %-d %b}: {top_story}". Fields:
    #: list (the list's name), title (the issue's own, normalised), date (a date), top_story
    #: (the first story's title) and stories (how many). None: the issue's title.
    subject: str | None = None

    @field_validator("subject")
    @classmethod
    def _known_fields(cls, value: str | None) -> str | None:
        import string

        if value is None:
            return None
        known = {"list", "title", "date", "top_story", "stories"}
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name}
        except ValueError as exc:
            raise ValueError(f"not a valid template: {exc}") from None
        unknown = sorted(fields - known)
        if unknown:
            raise ValueError(f"unknown field {{{unknown[0]}}} (known: {', '.join(sorted(known))})")
        return value


def resolve_brands(
    publisher: PublisherSettings,
    lists: Mapping[str, BrandFields],
    name: str,
    base_dir: Path,
) -> dict[str, Brand]:
    """Each configured list's `Brand` (its keys over the publisher's), the publisher's under "".

    ``name`` is the logos' default text alternative; BrandError names the key at fault.
    """
    brands = {"": _brand(publisher, None, name, base_dir, "publisher")}
    for slug, fields in lists.items():
        brands[slug] = _brand(fields, publisher, name, base_dir, f"lists.{slug}")
    return brands


def _brand(
    own: BrandFields, base: BrandFields | None, name: str, base_dir: Path, key: str
) -> Brand:
    """One section's brand, each unset key taken from ``base``."""

    def pick(field: str) -> object:
        value = getattr(own, field)
        return getattr(base, field) if value is None and base is not None else value

    logo_path = pick("logo")
    logo = None
    if isinstance(logo_path, Path):
        path = logo_path if logo_path.is_absolute() else base_dir / logo_path
        alt = pick("logo_alt")
        try:
            logo = load_logo(path, str(alt) if alt else name)
        except BrandError as exc:
            raise BrandError(f"{key}.logo: {exc}") from None
    accent, footer = pick("accent"), pick("footer")
    website, privacy = pick("website"), pick("privacy_url")
    return Brand(
        accent=str(accent) if accent else DEFAULT_ACCENT,
        logo=logo,
        footer=str(footer or ""),
        website=str(website) if website else None,
        privacy_url=str(privacy) if privacy else None,
        description=own.description or (base.description if base is not None else ""),
    )
