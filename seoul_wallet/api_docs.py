"""The interactive API documentation at /docs: Swagger UI served by the platform itself.

FastAPI's default page loads Swagger UI from a CDN: whoever serves (or intercepts) those files runs
script in the platform's origin, and the page breaks on a network without that CDN. Here the same
page (FastAPI's `get_swagger_ui_html`) loads Swagger UI's files from fastapi-offline, a package
that ships the swagger-ui-dist files FastAPI's default points at, and the page carries its own CSP:
scripts from this origin only, plus FastAPI's one inline bootstrap, pinned by its hash (CSP Level 3
hash-source), so no injected or foreign script can run. ReDoc (/redoc) is not served: it shows the
same contract as /docs and would need web workers from blob: URLs and a second asset set.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
# The files fastapi-offline ships (it keeps them next to its module, as `static/`), by media type.
_ASSET_DIRECTORY = Path(fastapi_offline.__file__).parent / "static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_policy(html: str) -> str:
    """The page's Content-Security-Policy: Swagger UI's files, styles and requests stay on this
    origin (its icons are data: images in its stylesheet); no inline style is needed (Swagger UI
    sets styles through the DOM, which CSP does not govern; tests/browser/test_api_docs.py)."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def install_api_docs(app: FastAPI) -> None:
    """Serve /docs and its assets from this app (build the app with docs_url=None, redoc_url=None)."""
    assert app.openapi_url is not None
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        # No OAuth 2.0 redirect page: the platform's clients use the client credentials grant.
        oauth2_redirect_url=None,
        # The validator badge would send the contract's URL to validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    html = page.body.decode()
    policy = docs_policy(html)

    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(html, headers={"content-security-policy": policy})

    app.add_api_route(DOCS_PATH, swagger_ui, methods=["GET"], include_in_schema=False)
    for name, media_type in ASSETS.items():
        app.add_api_route(f"{ASSETS_PATH}/{name}", _asset(name, media_type), methods=["GET"], include_in_schema=False)


def _asset(name: str, media_type: str) -> Callable[[], FileResponse]:
    # A closure, not default arguments: FastAPI would read those as query parameters.
    path = _ASSET_DIRECTORY / name

    def asset() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers={"cache-control": "public, max-age=86400"})

    return asset
