"""The playground page is served by the API with everything it loads: its script, its style and
the CodeMirror editor (scripts, modes, stylesheet), none from another host.

Fetched in-process (no services); the browser test (tests/e2e/test_playground.py) uses it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.settings import ApiSettings

ORIGIN = "http://testserver.local"
ABSOLUTE = re.compile(r"""(?:https?:)?//[^\s"'<>)\\]+""")


class References(HTMLParser):
    """Every src and href of the page's elements, and the labels' targets."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.labelled: set[str] = set()
        self.controls: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.found += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "label" and named.get("for"):
            self.labelled.add(str(named["for"]))
        if tag in ("select", "textarea") and named.get("id"):
            self.controls.add(str(named["id"]))


@pytest.fixture(scope="module")
def client() -> TestClient:  # type: ignore[type-arg]
    # No lifespan: the page needs no service, and none runs in unit tests.
    return TestClient(create_app(ApiSettings()), base_url=ORIGIN)


def test_the_root_leads_to_the_playground(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/playground"


def test_the_page_and_everything_it_loads_come_from_the_api(client: TestClient) -> None:  # type: ignore[type-arg]
    editor = Path(ApiSettings().playground_editor_dir)
    if not (editor / "lib" / "codemirror.js").is_file():
        pytest.fail(
            f"CodeMirror is not installed in {editor}: run devstack/runtimes.sh as root "
            "(`make provision`), which installs it from npm",
            pytrace=False,
        )
    response = client.get("/playground")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert ABSOLUTE.findall(response.text) == []
    parser = References()
    parser.feed(response.text)
    # Every form control has a label (the editor's textarea is labelled "Code" too).
    assert parser.controls <= parser.labelled, parser.controls - parser.labelled

    fetched: dict[str, bytes] = {}
    for reference in parser.found:
        if reference.startswith("data:"):
            continue
        parts = urlsplit(urljoin(f"{ORIGIN}/playground", reference))
        assert f"{parts.scheme}://{parts.netloc}" == ORIGIN, f"{reference!r} leaves the machine"
        asset = client.get(parts.path)
        assert asset.status_code == 200, (parts.path, asset.status_code)
        assert asset.content, parts.path
        fetched[parts.path] = asset.content
    names = {path.rsplit("/", 1)[-1] for path in fetched}
    assert {"codemirror.js", "codemirror.css", "python.js", "playground.js"} <= names
    # The real editor, not an empty file or an error page.
    assert b"CodeMirror" in fetched["/playground/codemirror/lib/codemirror.js"]
    for path, content in fetched.items():
        if path.endswith((".js", ".css")) and path.startswith("/playground/static/"):
            assert ABSOLUTE.findall(content.decode()) == [], path
