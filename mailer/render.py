"""Issue → e-mail: Jinja2 fills an MJML template, mjml-python makes HTML, css-inline inlines CSS.

Rendering is the expensive step (MJML takes milliseconds), so it happens once per *variant* — a
distinct (topic set, cadence) — and never per subscriber. The per-subscriber parts (unsubscribe
and preferences links) are placeholders here, filled cheaply by `Rendered.fill`. The archive's web
version is the same rendering with a public footer instead (`WebVersion`).

Each issue format has its template (`brief`, `digest`, `bulletin`, `article`, each `.mjml.j2`
and `.txt.j2`); `confirm`, `welcome` and `goodbye` are the one-to-one notices.

Every newsletter's HTML stays under Gmail's ~102 KB clip with its footer in it, whatever the
issue's length (`HTML_BUDGET`: bytes as mailer.message sends them, links filled in, the logo's
base64 included). A variant is rendered in full; if that is over the budget it is rendered
*compact* — title, source, a one-line summary and a link to the story in the web archive — and
if that is still over, with only the first stories and a link to the rest in the web version.
`Rendered` says which it became. The plain-text part always has every story in full.

Why css-inline rather than premailer: on the same brief variant it inlines in under 1 ms where
premailer takes about 11 ms (bench/render.py measures both), keeps the doctype premailer drops,
and never fetches remote stylesheets.
"""

from __future__ import annotations

import functools
import html as html_lib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import css_inline
import jinja2
from mjml import mjml_to_html

from mailer.brand import Brand, Logo
from mailer.content import GENERAL, Format, Issue, Story
from mailer.message import SLOT_URL_LENGTH, Slot, html_size, inline_size  # the first 3 re-exported
from mailer.text import (  # the text helpers; several are re-exported
    dated_title,
    inline_html,
    one_line,
    paragraphs_html,
    period_text,
    plain_text,
    preheader_for,
    reference_text,
    summary_line,
    wrap,
    wrap_paragraphs,
)
from mailer.topics import Taxonomy

__all__ = [
    "HTML_BUDGET",
    "HTML_LIMIT",
    "SLOT_URL_LENGTH",
    "Newsletter",
    "Notice",
    "RenderError",
    "Rendered",
    "Renderer",
    "Slot",
    "WebVersion",
    "dated_title",
    "html_size",
    "inline_html",
    "one_line",
    "paragraphs_html",
    "period_text",
    "summary_line",
    "template_dir",
]

_TITLE_MARK = "briefmail-mark-title"
_PREVIEW_MARK = "briefmail-mark-preview"
_MARKS = {"title": _TITLE_MARK, "preview": _PREVIEW_MARK}
_HEAD_META = (
    '<meta name="color-scheme" content="light dark">'
    '<meta name="supported-color-schemes" content="light dark">'
)
Notice = Literal["confirm", "welcome", "goodbye"]

#: No newsletter's HTML may be larger (bytes as sent, see `html_size`): Gmail clips at about
#: 102 KB, and a clipped message hides its footer (unsubscribe, postal address, why you get this).
HTML_LIMIT = 100_000
#: What the renderer aims at, below the limit: margin for links longer than SLOT_URL_LENGTH.
HTML_BUDGET = 95_000


class RenderError(Exception):
    """A template could not be turned into an e-mail (Jinja or MJML failure)."""


@dataclass(frozen=True, slots=True)
class Newsletter:
    """Who sends the newsletter, as shown to readers."""

    name: str
    sender_name: str
    postal_address: str | None = None
    language: str = "en"
    #: The list's accent, logo, footer and links (mailer.brand).
    brand: Brand = field(default_factory=Brand)


@dataclass(frozen=True, slots=True)
class WebVersion:
    """The issue as its public page: a footer for anyone (list, Subscribe, the list's archive)."""

    subscribe_url: str
    archive_url: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered message body: subject, preview text, HTML and plain-text parts.

    ``compact`` says the HTML is the short layout (one line per story, links to the web
    version) because the full one was over `HTML_BUDGET`; ``omitted`` stories did not fit even
    so and are only in the web version (and the plain-text part, which always has them all).
    ``inline_images`` are what the HTML refers to as ``cid:`` (the list's logo): the message
    carries each as a related part. A web version has none (its logo is a data: URI).
    """

    subject: str
    preheader: str
    html: str
    text: str
    compact: bool = False
    omitted: int = 0
    inline_images: tuple[Logo, ...] = ()

    @property
    def html_size(self) -> int:
        """Bytes of the HTML part once its per-subscriber links are filled in (estimated)."""
        return html_size(self.html)

    @property
    def browser_html(self) -> str:
        """The HTML with its cid: images as data: URIs, for showing it in a browser (previews)."""
        html_part = self.html
        for image in self.inline_images:
            html_part = html_part.replace(f'src="cid:{image.cid}"', f'src="{image.data_uri}"')
        return html_part

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
    """A story as one message shows it: its number here, its link reference, its web address.

    ``anchor`` is the story's id in the web version (``story-N``, N its place in the whole
    issue, so the same in every variant); ``web_url`` is that anchor in the web archive.
    """

    story: Story
    position_in_mail: int
    ref: int | None
    anchor: str | None = None
    web_url: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.story, name)


@dataclass(frozen=True, slots=True)
class _Group:
    """A digest's topic group: heading label, anchor id and its stories."""

    topic: str
    label: str
    stories: list[_StoryView] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"topic-{self.topic}"


class Renderer:
    """Renders issues and notices with one set of templates and one taxonomy (topic labels)."""

    def __init__(self, taxonomy: Taxonomy, templates: Path | None = None) -> None:
        self.taxonomy = taxonomy
        self.templates = templates or template_dir()

    @functools.cached_property
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
        env.filters.update(
            topic_label=self.taxonomy.label,
            period=period_text,
            dated_title=dated_title,
            reference=reference_text,
            wrap=wrap,
            wrap_paragraphs=wrap_paragraphs,
            inline=inline_html,
            paragraphs=paragraphs_html,
            plain=plain_text,
            one_line=one_line,
        )
        return env

    def render_issue(
        self,
        issue: Issue,
        stories: Sequence[Story],
        newsletter: Newsletter,
        *,
        topics: Sequence[str],
        cadence: str,
        archive_url: str | None = None,
        budget: int | None = HTML_BUDGET,
        web: WebVersion | None = None,
    ) -> Rendered:
        """Render one variant: ``stories`` (already selected) for readers of ``topics``.

        ``cadence`` ("daily", "weekly", or "" for an edition) appears in the footer's reason.
        ``archive_url`` is the issue's web version (``{base_url}/archive/{issue_id}``): the
        contents list and compact stories link to its anchors. The HTML is made to fit
        ``budget`` bytes (None: never shortened, as for the web version itself). With ``web``
        it is that web version: the public footer, and no per-reader text or links.
        """
        base = self._issue_context(issue, stories, newsletter, topics, cadence, archive_url, web)
        images = _inline_images(newsletter, web)
        _, html_part, context = self._fit(issue, base, budget, images)
        layout = context["layout"]
        return Rendered(
            issue.subject_line,
            base["preheader"],
            html_part,
            self._render_template(f"{issue.format.value}.txt.j2", base),
            compact=layout["compact"],
            omitted=layout["omitted"],
            inline_images=images,
        )

    def render_mjml(
        self,
        issue: Issue,
        stories: Sequence[Story],
        newsletter: Newsletter,
        *,
        topics: Sequence[str],
        cadence: str,
        archive_url: str | None = None,
        budget: int | None = HTML_BUDGET,
        web: WebVersion | None = None,
    ) -> str:
        """Return the MJML source of a variant as sent (what the official validator checks)."""
        base = self._issue_context(issue, stories, newsletter, topics, cadence, archive_url, web)
        source, _, _ = self._fit(issue, base, budget, _inline_images(newsletter, web))
        return source

    def render_notice(
        self,
        kind: Notice,
        newsletter: Newsletter,
        *,
        action_url: str,
        topics: Sequence[str] = (),
        cadence: str = "daily",
        unsubscribe_url: str | None = None,
        valid_days: int = 7,
        first_issue: str | None = None,
        latest_url: str | None = None,
        latest_title: str | None = None,
        mjml_only: bool = False,
    ) -> Rendered:
        """Render a confirm, welcome or goodbye notice for one subscriber.

        A welcome says when the first issue arrives (``first_issue``, a ready phrase: "Tuesday
        8 December at 07:00, your time (Europe/Paris)") and links ``latest_url`` when given.
        """
        subject, heading = {
            "confirm": (f"Confirm your subscription to {newsletter.name}", "Please confirm"),
            "welcome": (f"Welcome to {newsletter.name}", "You are subscribed"),
            "goodbye": (f"You have unsubscribed from {newsletter.name}", "You are unsubscribed"),
        }[kind]
        notice = {
            "action_url": action_url,
            "topics": list(topics),
            "cadence": cadence,
            "unsubscribe_url": unsubscribe_url,
            "valid_days": valid_days,
            "first_issue": first_issue,
            "latest_url": latest_url,
            "latest_title": latest_title,
        }
        context = {"newsletter": newsletter, "heading": heading, "marks": _MARKS, "notice": notice}
        # A notice has no web version; its logo, like an issue's, travels in the message.
        context["web"] = None
        source = self._render_template(f"{kind}.mjml.j2", context)
        if mjml_only:
            return Rendered(subject, heading, source, "")
        return Rendered(
            subject,
            heading,
            self._html_from(source, subject, heading),
            self._render_template(f"{kind}.txt.j2", context),
            inline_images=_inline_images(newsletter, None),
        )

    def _issue_context(
        self,
        issue: Issue,
        stories: Sequence[Story],
        newsletter: Newsletter,
        topics: Sequence[str],
        cadence: str,
        archive_url: str | None,
        web: WebVersion | None = None,
    ) -> dict[str, Any]:
        refs = iter(range(1, len(stories) + 1))
        # The anchor is the story's place in the whole issue, which the web version shows in
        # full: the same story has the same anchor in every variant.
        places: dict[Story, int] = {}
        for n, story in enumerate(issue.stories, start=1):
            places.setdefault(story, n)
        views = []
        for n, story in enumerate(stories, start=1):
            place = places.get(story)
            anchor = f"story-{place}" if place is not None else None
            web_url = f"{archive_url}#{anchor}" if archive_url and anchor else None
            views.append(_StoryView(story, n, next(refs) if story.url else None, anchor, web_url))
        context: dict[str, Any] = {
            "issue": issue,
            "newsletter": newsletter,
            "archive_url": archive_url,
            "web": web,
            "preheader": issue.preheader or summary_line(issue.summary) or preheader_for(stories),
            "subscriber": {
                "topics": list(topics),
                "cadence": cadence,
                # An article's sections are not "stories for you"; it is one piece. The web
                # version is for everyone: nothing in it is "for you".
                "story_count": 0 if issue.format == Format.ARTICLE or web else len(views),
            },
            "links": {"unsubscribe": Slot.UNSUBSCRIBE_URL, "preferences": Slot.PREFERENCES_URL},
            "references": [{"number": v.ref, "url": v.url} for v in views if v.ref],
            "marks": _MARKS,
        }
        return self._layout(context, views, compact=False, keep=len(views))

    def _layout(
        self, context: Mapping[str, Any], views: Sequence[_StoryView], *, compact: bool, keep: int
    ) -> dict[str, Any]:
        """The context for one layout: full or compact, showing the first ``keep`` stories."""
        shown = list(views[:keep])
        groups: list[_Group] = []
        if context["issue"].format == Format.DIGEST:
            for view in shown:
                topic = view.story.group or GENERAL
                if not groups or groups[-1].topic != topic:
                    groups.append(_Group(topic, self.taxonomy.label(topic)))
                groups[-1].stories.append(view)
        first_left_out = views[keep] if keep < len(views) else None
        return {
            **context,
            "all_stories": list(views),
            "stories": shown,
            "groups": groups,
            "layout": {
                "compact": compact,
                "omitted": len(views) - keep,
                "more_url": first_left_out.web_url if first_left_out else None,
            },
        }

    def _fit(
        self, issue: Issue, base: dict[str, Any], budget: int | None, images: Sequence[Logo]
    ) -> tuple[str, str, dict[str, Any]]:
        """MJML source, HTML and context of the fullest layout whose HTML fits ``budget``.

        Full if it fits; else compact; else compact with the most leading stories that fit
        (found by bisection: a few MJML compiles, once per variant). The ``images`` the message
        carries take their share of the budget first.
        """
        template = f"{issue.format.value}.mjml.j2"
        views: list[_StoryView] = base["all_stories"]
        if budget is not None:
            budget -= inline_size(images)

        def attempt(context: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
            source = self._render_template(template, context)
            return source, self._html_from(source, issue.subject_line, base["preheader"]), context

        def fits(result: tuple[str, str, dict[str, Any]]) -> bool:
            return budget is None or html_size(result[1]) <= budget

        for context in (base, self._layout(base, views, compact=True, keep=len(views))):
            if fits(best := attempt(context)):
                return best
        low, high, found = 0, len(views) - 1, None
        while low <= high:
            keep = (low + high) // 2
            result = attempt(self._layout(base, views, compact=True, keep=keep))
            if fits(result):
                found, low = result, keep + 1
            else:
                high = keep - 1
        if found is None:
            raise RenderError(
                f"{issue.title[:80]!r}: over {budget:,} bytes of HTML even without stories"
            )
        return found

    @staticmethod
    def _html_from(source: str, title: str, preview: str) -> str:
        html_part = compile_mjml(source)
        # mjml-python decodes &#34; inside <mj-title> and copies the text into an attribute
        # (aria-label) unescaped, so a quote in a title could open new attributes. The head
        # texts therefore go in as inert marks and are escaped here, after MJML.
        html_part = html_part.replace(_TITLE_MARK, html_lib.escape(title, quote=True))
        return html_part.replace(_PREVIEW_MARK, html_lib.escape(preview, quote=True))

    def _render_template(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(context)
        except jinja2.TemplateError as exc:
            where = getattr(exc, "lineno", None)
            raise RenderError(f"{name}{f':{where}' if where else ''}: {exc}") from exc


def _inline_images(newsletter: Newsletter, web: WebVersion | None) -> tuple[Logo, ...]:
    """The images an e-mail carries as related parts: the logo, except in a web version."""
    logo = newsletter.brand.logo
    return (logo,) if logo is not None and web is None else ()


_INLINER = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)


@functools.lru_cache(maxsize=128)
def compile_mjml(source: str) -> str:
    """MJML → HTML with the CSS inlined and colour-scheme meta added (cached by source)."""
    result = mjml_to_html(source)
    if result.errors:
        raise RenderError(f"MJML: {result.errors}")
    # Style blocks stay (keep_style_tags): @media rules for phones and dark mode cannot be inlined.
    inlined: str = _INLINER.inline(result.html)
    return inlined.replace("<head>", "<head>" + _HEAD_META, 1)
