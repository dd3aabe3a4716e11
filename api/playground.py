"""The playground page at /playground (and / sends you there): a code editor, Run, live output,
the verdict and the session's past runs, in the browser, on the public API only.

The page and its script are files beside this module (api/playground/); the editor is CodeMirror 5
from the npm package that devstack/runtimes.sh installs (PLAYGROUND_EDITOR_DIR), served by the API
itself like the docs page's assets, so nothing is loaded from another host."""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.response import Redirect
from litestar.router import Router
from litestar.static_files import create_static_files_router

PAGE_DIR = Path(__file__).resolve().parent / "playground"
STATIC = "/playground/static"
EDITOR = "/playground/codemirror"


@get("/", include_in_schema=False, sync_to_thread=False)
def home() -> Redirect:
    """The API's root is the playground."""
    return Redirect("/playground", status_code=302)


@get("/playground", include_in_schema=False, sync_to_thread=False)
def page() -> Response[bytes]:
    """The page itself; everything else it needs is under STATIC and EDITOR."""
    return Response(
        (PAGE_DIR / "index.html").read_bytes(),
        media_type="text/html; charset=utf-8",
        # A new deployment's page must not run against an old cached script.
        headers={"Cache-Control": "no-cache"},
    )


def routers(editor_dir: str) -> list[Router]:
    """The page's own script and style, and the CodeMirror package (MIT, as npm ships it)."""
    return [
        create_static_files_router(
            path=STATIC, directories=[PAGE_DIR], include_in_schema=False, name="playground"
        ),
        create_static_files_router(
            path=EDITOR,
            directories=[Path(editor_dir)],
            include_in_schema=False,
            name="playground-editor",
        ),
    ]
