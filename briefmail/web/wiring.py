"""What the web face builds from the application: the page handlers and the lists' identity."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select

from briefmail.app import Briefmail
from briefmail.web.forms import PageAdapter
from mailer.content import Issue
from mailer.render import Newsletter
from scheduler.dispatch import newsletter_identity
from scheduler.editions import PUBLISHED, IssueStatus, StoredIssue
from subscribers.arrival import WeeklySlot
from subscribers.models import NewsletterList
from subscribers.notices import Notices
from subscribers.page_views import Site, Views
from subscribers.pages import LatestIssue, PublicPages
from subscribers.tokens import TokenSigner

__all__ = ["list_identity", "page_adapter", "public_pages", "site"]


def list_identity(app: Briefmail) -> Callable[[NewsletterList], Newsletter]:
    """How a list presents itself in notices and on archive pages, as in its newsletters."""
    settings = app.settings.newsletter

    def identity(row: NewsletterList) -> Newsletter:
        brand = app.settings.brand(row.slug)
        return newsletter_identity(row, settings.postal_address or None, settings.language, brand)

    return identity


def latest_issue(app: Briefmail) -> LatestIssue:
    """The newest published issue of a list (the preferences page previews it, never a draft)."""

    def latest(list_id: int) -> Issue | None:
        with app.sessions() as session:
            row = session.scalar(
                select(StoredIssue)
                .where(StoredIssue.list_id == list_id, StoredIssue.status.in_(PUBLISHED))
                .order_by(StoredIssue.date.desc(), StoredIssue.id.desc())
                .limit(1)
            )
            return row.to_issue() if row is not None else None

    return latest


def latest_link(app: Briefmail) -> Callable[[int], tuple[str, str] | None]:
    """The title and archive address of a list's newest sent issue (the welcome links it)."""
    base = app.settings.newsletter.base_url

    def latest(list_id: int) -> tuple[str, str] | None:
        with app.sessions() as session:
            row = session.execute(
                select(StoredIssue.id, StoredIssue.title)
                .where(StoredIssue.list_id == list_id, StoredIssue.status == IssueStatus.SENT)
                .order_by(StoredIssue.date.desc(), StoredIssue.id.desc())
                .limit(1)
            ).first()
        return (row.title, f"{base}/archive/{row.id}") if row is not None else None

    return latest


def public_pages(app: Briefmail) -> PublicPages:
    """The public page handlers, with notices signed and sent as the newsletters are."""
    notices = Notices(app.renderer, list_identity(app), app.transport, app.dkim)
    return PublicPages(
        sessions=app.sessions,
        taxonomy=app.taxonomy,
        signer=TokenSigner(app.settings.secret()),
        notices=notices,
        latest_issue=latest_issue(app),
        base_url=app.settings.newsletter.base_url,
        smtputf8=app.settings.smtp.smtputf8,
        views=Views(site(app)),
        weekly=WeeklySlot(
            app.settings.schedule.weekly_day,
            dt.time.fromisoformat(app.settings.schedule.weekly_time),
            app.settings.schedule.timezone,
        ),
        latest_link=latest_link(app),
    )


def site(app: Briefmail) -> Site:
    """Whose pages these are: the publisher's name and each list's look."""
    settings = app.settings
    return Site(
        publisher=settings.publisher.name or settings.newsletter.name,
        brands=settings.brand,
        default_slug=settings.newsletter.slug,
    )


def page_adapter(app: Briefmail) -> PageAdapter:
    """How the public pages read requests on this site (its address, its trusted proxies)."""
    return PageAdapter(app.settings.newsletter.base_url, app.settings.web.trusted_proxies)
