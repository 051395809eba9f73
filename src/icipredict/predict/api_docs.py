"""API docs pages that work offline and keep the API description behind the token.

``GET /docs`` (Swagger UI) and ``GET /redoc`` (ReDoc) are static pages, open like the board
page: they hold no data. Their JavaScript and CSS are served from ``/docs/static/``, the files
the ``fastapi-offline`` package ships (Swagger UI 5 and ReDoc 2, which read OpenAPI 3.1), so
nothing is loaded from a CDN. ``GET /openapi.json`` needs the bearer token like the API: each
page asks for the token (kept in the browser tab's ``sessionStorage``, shared with the board
page), fetches the description with it and hands it to the viewer; Swagger UI also sends it with
"Try it out" requests and shows the HTTP bearer scheme as authorized.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader

logger = logging.getLogger(__name__)

#: Where the viewers' JavaScript and CSS are served (a static mount, no authentication).
STATIC_URL = "/docs/static"
_TEMPLATES = Path(__file__).with_name("templates")
#: The pages load scripts, styles, images and data from this server only: the browser refuses
#: anything else (ReDoc's footer links a logo on a CDN), so no request leaves the network.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
#: The files the pages load from :data:`STATIC_URL`.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_folder() -> Path | None:
    """The installed folder holding :data:`ASSETS` (package ``fastapi-offline``), or None."""
    try:
        folder = Path(str(resources.files("fastapi_offline") / "static"))
    except ModuleNotFoundError:
        return None
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def add_docs(app: FastAPI, auth: Any) -> None:
    """Add ``/openapi.json`` (behind ``auth``), the open ``/docs`` and ``/redoc`` pages and the
    static mount of their assets to ``app``.

    Parameters
    ----------
    app
        The API (created with ``docs_url=None, redoc_url=None, openapi_url=None``).
    auth
        The dependency that refuses a request without the bearer token.
    """

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(auth)])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    folder = assets_folder()
    if folder is None:
        logger.warning("API docs pages disabled: package fastapi-offline is not installed "
                       "(pip install 'icipredict[serve]'); /openapi.json still works")
        return
    app.mount(STATIC_URL, StaticFiles(directory=folder), name="docs-static")

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        return _page("docs.html")

    @app.get("/redoc", include_in_schema=False, response_class=HTMLResponse)
    def redoc() -> HTMLResponse:
        return _page("redoc.html")


@cache
def _render(name: str) -> str:
    """A docs page: ``docs_page.html`` (token form, fetch of the description) around one
    viewer's blocks. Rendered once per process: the pages hold no per-request data."""
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=False,
                      keep_trailing_newline=True)
    return env.get_template(name).render()


def _page(name: str) -> HTMLResponse:
    """A docs page from the templates folder, confined to this server by :data:`CSP`."""
    return HTMLResponse(_render(name), headers={"Content-Security-Policy": CSP})


__all__ = ["ASSETS", "CSP", "STATIC_URL", "add_docs", "assets_folder"]
