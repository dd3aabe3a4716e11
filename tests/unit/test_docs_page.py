"""The docs page at /schema works offline: the page and every asset it names come from the API.

Fetched in-process (no services): the page, each script, stylesheet and icon it references,
and whatever the stylesheets reference in turn; none may point at another host.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.settings import ApiSettings

ORIGIN = "http://testserver.local"
ABSOLUTE = re.compile(r"""(?:https?:)?//[^\s"'<>)\\]+""")
CSS_REFERENCE = re.compile(r"""url\(\s*['"]?([^'")]+)|@import\s+['"]([^'"]+)""")


class References(HTMLParser):
    """Every src and href of the page's elements."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.fixture(scope="module")
def client() -> TestClient:  # type: ignore[type-arg]
    # No lifespan: the docs need no service, and none runs in unit tests.
    return TestClient(create_app(ApiSettings()), base_url=ORIGIN)


def local(url: str, base: str) -> str:
    """The path of a reference that stays on the API; fails on one to another host."""
    resolved = urljoin(base, url)
    parts = urlsplit(resolved)
    assert f"{parts.scheme}://{parts.netloc}" == ORIGIN, f"{url!r} leaves the machine"
    return parts.path


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_docs_page_and_its_assets_are_served_by_the_api(client: TestClient, page: str) -> None:  # type: ignore[type-arg]
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # No absolute URL at all: not in a tag, not in the inline script or document, but for
    # examples the OpenAPI document itself holds (a callback_url's), which load nothing.
    document = client.get("/schema/openapi.json").text
    assert [url for url in ABSOLUTE.findall(html) if url not in document] == []
    assert "SwaggerUIBundle(" in html  # the real page, not an error

    parser = References()
    parser.feed(html)
    assert len(parser.found) >= 4, parser.found  # icon, stylesheet, two scripts
    seen: set[str] = set()
    pending = [(reference, f"{ORIGIN}{page}") for reference in parser.found]
    while pending:
        reference, base = pending.pop()
        if reference.startswith("data:"):
            continue
        path = local(reference, base)
        if path in seen:
            continue
        seen.add(path)
        asset = client.get(path)
        assert asset.status_code == 200, (path, asset.status_code)
        assert asset.content, path
        if path.endswith(".css"):
            for match in CSS_REFERENCE.finditer(asset.text):
                pending.append((match.group(1) or match.group(2), f"{ORIGIN}{path}"))
    assert {path.rsplit("/", 1)[-1] for path in seen} >= {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
        "favicon-32x32.png",
    }


def test_the_document_is_still_served_beside_the_page(client: TestClient) -> None:  # type: ignore[type-arg]
    document = client.get("/schema/openapi.json")
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "runbox"
