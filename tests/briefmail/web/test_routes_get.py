"""No GET changes anything: link scanners fetch every link, so only a POST may act.

The walk reads the FastAPI app's own route table (`fastapi.routing.iter_route_contexts`, which
also yields the routes of included routers, as the OpenAPI generator reads them), so a GET route
added later is walked too, and a path parameter this file does not know fails the test until it
is taught here. Every GET is
called with valid values, tokens of a pending and of a confirmed reader among them, and must
answer 200; afterwards every table of the database holds exactly the rows it held before (no
consent event, subscription status, suppression or anything else written) and no mail went out.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from sqlalchemy import MetaData, select

from briefmail.app import Briefmail
from briefmail.web import create_web
from mailer.testing import SmtpSink
from subscribers.models import Subscriber, Subscription, SubscriptionStatus
from subscribers.tokens import Purpose, TokenSigner
from tests.briefmail.web.test_public import Client, link_in, subscribe_form, subscription_of
from tests.conftest import FIXTURES, subscribe_readers

#: Which token a route's {token} takes, by the route's first path segment.
TOKEN_PURPOSES = {
    "confirm": Purpose.CONFIRM,
    "preferences": Purpose.PREFERENCES,
    "unsubscribe": Purpose.UNSUBSCRIBE,
}


@pytest.fixture
async def client(app: Briefmail) -> AsyncIterator[Client]:
    async with Client(app) as c:
        yield c


def snapshot(app: Briefmail) -> dict[str, list[str]]:
    """Every row of every table (reflected, so a new table is covered too), in a stable order."""
    metadata = MetaData()
    metadata.reflect(app.engine)
    with app.engine.connect() as connection:
        return {
            name: sorted(repr(tuple(row)) for row in connection.execute(select(table)))
            for name, table in metadata.tables.items()
        }


def tokens_for(app: Briefmail, email: str) -> dict[Purpose, str]:
    """A valid token of every purpose for the reader's subscription."""
    with app.sessions() as session:
        subscription = session.scalars(
            select(Subscription).join(Subscriber).where(Subscriber.email == email)
        ).one()
        ident, key = subscription.id, subscription.subscriber.token_key
    signer = TokenSigner(app.settings.secret())
    return {purpose: signer.make(purpose, ident, key) for purpose in Purpose}


def parameters(path: str) -> list[str]:
    """The names of a route path's parameters ("/archive/{issue_id}" → ["issue_id"])."""
    return re.findall(r"\{(\w+)(?::\w+)?\}", path)


def paths(path: str, values: dict[str, list[str]]) -> list[str]:
    """The route path with every combination of the values its parameters take."""
    filled = [path]
    for name in parameters(path):
        assert name in values, f"{path}: teach this test a valid value for {{{name}}}"
        pattern = re.compile(rf"\{{{name}(?::\w+)?\}}")
        filled = [pattern.sub(value, each) for each in filled for value in values[name]]
    return filled


def get_routes(routes: list[RouteContext]) -> list[str]:
    """The paths of the GET routes, refusing any route this walk could not call."""
    others = [r.original_route for r in routes if not isinstance(r.original_route, APIRoute)]
    assert not others, f"routes this walk does not know how to call: {others}"
    return [
        r.path
        for r in routes
        if r.path is not None
        and "GET" in (r.methods or set())
        # The reader-facing face: the console's and the API's GETs need a session or a token,
        # and their own route walks (console/test_routes.py, api/test_auth.py) call them.
        and not r.path.startswith(("/admin", "/api"))
    ]


@pytest.mark.both_databases  # the snapshot reflects whatever tables the database has
class TestNoGetChangesState:
    async def test_every_get_route_leaves_the_database_unchanged(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """Every GET route, called with valid tokens, writes no row and sends no mail."""
        subscribe_readers(app, ["confirmed@example.net"], topics=["chips"])
        stored = app.ingest(FIXTURES / "brief-mixed.txt", "brief", approve=True).stored
        assert stored is not None
        await app.send_issue(stored.id)
        await subscribe_form(client, email="pending@example.net")
        pending_confirm = link_in(smtp_sink, "confirm").rsplit("/", 1)[1]
        tokens: dict[Purpose, list[str]] = {purpose: [] for purpose in Purpose}
        for email in ("pending@example.net", "confirmed@example.net"):
            for purpose, token in tokens_for(app, email).items():
                tokens[purpose].append(token)
        tokens[Purpose.CONFIRM].append(pending_confirm)  # the link the e-mail itself carries

        gets = get_routes(list(iter_route_contexts(create_web(app).routes)))
        token, _ = app.tokens.create("prometheus", "read")  # /metrics wants a read token
        watcher = {"authorization": f"Bearer {token}"}
        before, mails = snapshot(app), len(smtp_sink.messages)
        called: list[str] = []
        for route in gets:
            values: dict[str, list[str]] = {"slug": ["brief"], "issue_id": [str(stored.id)]}
            if "token" in parameters(route):
                values["token"] = tokens[TOKEN_PURPOSES[route.split("/")[1]]]
            for path in paths(route, values):
                response = await client.get(path, headers=watcher if path == "/metrics" else {})
                assert response.status_code == 200, (path, response.text[:500])
                called.append(route)
        after = snapshot(app)
        # The one thing a GET records: when the token it came with was last used.
        after.pop("api_tokens"), before.pop("api_tokens")
        assert after == before
        assert len(smtp_sink.messages) == mails
        assert set(called) == set(gets)
        # Both readers' tokens, and the confirmation link from the e-mail as well.
        assert [called.count(f"/{kind}/{{token}}") for kind in TOKEN_PURPOSES] == [3, 2, 2]

    async def test_the_confirmation_get_is_the_button_page(
        self, app: Briefmail, client: Client, smtp_sink: SmtpSink
    ) -> None:
        """The confirmation link's GET answers the button page while the reader stays pending."""
        await subscribe_form(client, email="pending@example.net")
        response = await client.get(link_in(smtp_sink, "confirm"))
        assert "Confirm my subscription" in response.text
        assert subscription_of(app, "pending@example.net").status == SubscriptionStatus.PENDING
