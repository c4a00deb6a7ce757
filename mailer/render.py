"""Issue → e-mail: Jinja2 fills an MJML template, mjml-python makes HTML, premailer inlines CSS.

Rendering is the expensive step (MJML + CSS inlining cost milliseconds), so it happens once per
*variant* — a distinct (topic set, cadence) — and never per subscriber. The per-subscriber parts
(unsubscribe and preferences links) are placeholders here, filled cheaply by `Rendered.fill`.
"""

from __future__ import annotations

import datetime as dt
import enum
import html as html_lib
import logging
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import premailer
from mjml import mjml_to_html

from mailer.content import Issue, Story
from mailer.topics import Taxonomy

__all__ = [
    "Newsletter",
    "RenderError",
    "Rendered",
    "Renderer",
    "Slot",
    "template_dir",
]

#: Link texts that say nothing about the article; shown as no reference at all.
_EMPTY_LINK_TEXTS = frozenset({"read more", "more", "link", "here", "full story", "source"})
_WIDTH = 78
_TITLE_MARK = "briefmail-mark-title"
_PREVIEW_MARK = "briefmail-mark-preview"


class RenderError(Exception):
    """A template could not be turned into an e-mail (Jinja or MJML failure)."""


class Slot(enum.StrEnum):
    """Per-subscriber values left as placeholders in a rendered variant.

    The placeholders are plain ASCII words so they pass through Jinja escaping, MJML and the CSS
    inliner unchanged, and cannot occur in real content by accident.
    """

    UNSUBSCRIBE_URL = "briefmail-slot-unsubscribe-url"
    PREFERENCES_URL = "briefmail-slot-preferences-url"


@dataclass(frozen=True, slots=True)
class Newsletter:
    """Who sends the newsletter, as shown to readers."""

    name: str
    sender_name: str
    postal_address: str | None = None
    language: str = "en"


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered message body: subject, preview text, HTML and plain-text parts."""

    subject: str
    preheader: str
    html: str
    text: str

    def fill(self, values: Mapping[Slot, str]) -> Rendered:
        """Return a copy with every slot replaced (HTML-escaped in the HTML part)."""
        html_part, text_part = self.html, self.text
        for slot, value in values.items():
            html_part = html_part.replace(slot.value, html_lib.escape(value, quote=True))
            text_part = text_part.replace(slot.value, value)
        return replace(self, html=html_part, text=text_part)


def template_dir() -> Path:
    """Where the e-mail templates are: inside the installed package, else the source tree."""
    shipped = resources.files("mailer").joinpath("templates/email")
    if shipped.is_dir():
        return Path(str(shipped))
    return Path(__file__).resolve().parent.parent / "templates" / "email"


@dataclass(frozen=True, slots=True)
class _StoryView:
    """A story as one message shows it: its number in this message and its link reference."""

    story: Story
    position_in_mail: int
    ref: int | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.story, name)


class Renderer:
    """Renders issues with one set of templates and one taxonomy (for topic labels)."""

    def __init__(self, taxonomy: Taxonomy, templates: Path | None = None) -> None:
        self.taxonomy = taxonomy
        self.templates = templates or template_dir()

    @cached_property
    def _env(self) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.templates),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("mjml.j2", "html.j2"), default_for_string=True
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["topic_label"] = self.taxonomy.label
        env.filters["longdate"] = _long_date
        env.filters["reference"] = reference_text
        env.filters["wrap"] = wrap
        return env

    def render_issue(
        self,
        issue: Issue,
        stories: Sequence[Story],
        newsletter: Newsletter,
        *,
        topics: Sequence[str],
        cadence: str,
        template: str = "brief",
    ) -> Rendered:
        """Render one variant: ``stories`` (already selected) for readers of ``topics``."""
        context = self._context(issue, stories, newsletter, topics, cadence)
        html_part = self.mjml_to_html(self._render_template(f"{template}.mjml.j2", context))
        # mjml-python decodes &#34; inside <mj-title> and copies the text into an attribute
        # (aria-label) unescaped, so a quote in a title could open new attributes. The head
        # texts therefore go in as inert marks and are escaped here, after MJML.
        html_part = html_part.replace(_TITLE_MARK, html_lib.escape(issue.title, quote=True))
        html_part = html_part.replace(
            _PREVIEW_MARK, html_lib.escape(context["preheader"], quote=True)
        )
        text_part = self._render_template(f"{template}.txt.j2", context)
        return Rendered(issue.title, context["preheader"], html_part, text_part)

    def render_mjml(
        self,
        issue: Issue,
        stories: Sequence[Story],
        newsletter: Newsletter,
        *,
        topics: Sequence[str],
        cadence: str,
        template: str = "brief",
    ) -> str:
        """Return the MJML source of a variant (what the official validator checks)."""
        context = self._context(issue, stories, newsletter, topics, cadence)
        return self._render_template(f"{template}.mjml.j2", context)

    def _context(
        self,
        issue: Issue,
        stories: Sequence[Story],
        newsletter: Newsletter,
        topics: Sequence[str],
        cadence: str,
    ) -> dict[str, Any]:
        refs = iter(range(1, len(stories) + 1))
        views = [
            _StoryView(story, n, next(refs) if story.url else None)
            for n, story in enumerate(stories, start=1)
        ]
        return {
            "issue": issue,
            "stories": views,
            "newsletter": newsletter,
            "preheader": preheader_for(stories),
            "subscriber": {"topics": list(topics), "cadence": cadence, "story_count": len(views)},
            "links": {
                "unsubscribe": Slot.UNSUBSCRIBE_URL.value,
                "preferences": Slot.PREFERENCES_URL.value,
            },
            "references": [{"number": v.ref, "url": v.url} for v in views if v.ref],
            "marks": {"title": _TITLE_MARK, "preview": _PREVIEW_MARK},
        }

    def _render_template(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(context)
        except jinja2.TemplateError as exc:
            where = getattr(exc, "lineno", None)
            raise RenderError(f"{name}{f':{where}' if where else ''}: {exc}") from exc

    @staticmethod
    def mjml_to_html(source: str) -> str:
        """Compile MJML to HTML and inline the CSS that MJML leaves in <style> blocks."""
        result = mjml_to_html(source)
        if result.errors:
            raise RenderError(f"MJML: {result.errors}")
        inliner = premailer.Premailer(
            result.html,
            # @media rules (phone layout, dark mode) cannot be inlined; they must stay in <head>.
            keep_style_tags=True,
            strip_important=False,
            disable_validation=True,
            allow_network=False,
            cssutils_logging_level=logging.CRITICAL,
        )
        inlined = str(inliner.transform())
        # premailer re-serialises through lxml and drops the doctype, which keeps clients out of
        # quirks mode; put back the one MJML wrote.
        if result.html.lstrip().lower().startswith(
            "<!doctype"
        ) and not inlined.lstrip().lower().startswith("<!doctype"):
            inlined = "<!doctype html>\n" + inlined
        return inlined


def preheader_for(stories: Sequence[Story], limit: int = 140) -> str:
    """The preview text inbox lists show: the first story titles, cut at a word boundary."""
    text = " · ".join(s.title for s in stories)
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ·") + "…"


def reference_text(story: Story) -> str | None:
    """What to print for a story without an address: its link text, unless that says nothing."""
    text = (story.link_text or "").strip()
    if not text or text.lower().rstrip(".…") in _EMPTY_LINK_TEXTS:
        return None
    return text


def wrap(text: str, indent: str = "", first: str | None = None) -> str:
    """Wrap a paragraph at 78 columns; ``first`` is the first line's indent (default ``indent``)."""
    return textwrap.fill(
        " ".join(str(text).split()),
        width=_WIDTH,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _long_date(value: dt.date) -> str:
    return f"{value:%A}, {value.day} {value:%B %Y}"
