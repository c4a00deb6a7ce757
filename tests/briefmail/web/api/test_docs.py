"""The API's OpenAPI document and its Swagger UI page (briefmail/web/api/__init__.py).

The document lists every /api/v1 route and nothing else; /api/docs is served from the copy of
npm's swagger-ui-dist vendored in the package (byte-identical to node_modules'), and neither its
HTML nor the page as Chromium loads it asks anything of another host.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import httpx
from fastapi.routing import iter_route_contexts

from briefmail.web import create_web
from briefmail.web.api import STATIC, VENDORED
from tests.briefmail.web.api.conftest import Served, error_of
from tests.conftest import ROOT, require


def test_the_vendored_swagger_ui_is_npms_copy() -> None:
    """Each vendored file is byte-identical to the one npm installed in node_modules."""
    source = ROOT / "node_modules" / "swagger-ui-dist"
    require(source.is_dir(), "node_modules is not installed (run `npm ci`)")
    for name in VENDORED:
        assert (STATIC / name).read_bytes() == (source / name).read_bytes(), name


def test_the_schema_lists_every_api_route_and_only_those(served: Served) -> None:
    """/api/openapi.json (no token needed) has each /api/v1 route and method; no other path."""
    schema = httpx.get(f"{served.base}/api/openapi.json").json()
    listed = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    routes = {
        (method, route.path)
        for route in iter_route_contexts(create_web(served.app).routes)
        if route.path and route.path.startswith("/api/v1")
        for method in route.methods or ()
    }
    assert listed == routes
    assert len(routes) >= 25
    assert all(path.startswith("/api/v1/") for _, path in listed)
    assert "bearer" in str(schema["components"]["securitySchemes"]).lower()
    for path in ("/api/v1/issues", "/api/v1/issues/{issue_id}/send", "/api/v1/runs/{run_id}"):
        assert path in schema["paths"]


def test_every_operation_documents_its_scope_and_error_shape(served: Served) -> None:
    """Each operation names the scope it needs and documents the 401 and 422 answers."""
    schema: dict[str, Any] = httpx.get(f"{served.base}/api/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "scope" in operation["description"], (method, path)
            assert {"401", "403", "422"} <= set(operation["responses"]), (method, path)
            assert operation["summary"], (method, path)


def test_the_docs_page_names_no_other_host(served: Served) -> None:
    """/api/docs links only the app's own files, which are served with their types."""
    # A generous timeout: swagger-ui-bundle.js is 1.4 MB and CI's two cores are busy.
    with httpx.Client(base_url=served.base, timeout=60) as client:
        page = client.get("/api/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        assert urls, page.text
        assert not re.search(r"https?://", page.text), page.text
        for url in urls:
            answer = client.get(url)
            assert answer.status_code == 200, url
        css = client.get("/api/static/swagger-ui.css")
        assert css.headers["content-type"].startswith("text/css")
        assert client.get("/api/static/../__init__.py").status_code == 404


def test_chromium_renders_the_docs_without_leaving_the_app(served: Served, browser: Any) -> None:
    """Swagger UI draws the API's operations, and every request the page makes is to the app."""
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{served.base}/api/docs")
        page.wait_for_selector('[data-path="/api/v1/issues/{issue_id}/send"]', timeout=15_000)
    finally:
        page.close()
    own = urlparse(served.base).netloc
    others = [url for url in requested if urlparse(url).netloc not in (own, "")]
    assert others == [], others
    assert any(url.endswith("/api/openapi.json") for url in requested)


def test_unknown_api_paths_answer_in_the_error_shape(served: Served) -> None:
    """Under /api a wrong path or method is JSON (404, 405); elsewhere the pages keep theirs."""
    client = served.client()
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    wrong = client.put("/api/v1/issues")
    assert wrong.status_code == 405
    assert error_of(wrong)["code"] == "method_not_allowed"
    page = httpx.get(f"{served.base}/no-such-page")
    assert page.status_code == 404
    assert "error" not in page.json()
