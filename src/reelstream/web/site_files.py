"""Two small site routes that need no template: the API explorer at ``/docs`` and
``/favicon.ico``.

``/docs`` is Swagger UI served from this server's own files (``static/vendor/swagger-ui``,
pinned in ``web/frontend/package.json`` and copied by ``scripts/build-assets.sh``), started by a
static script (``static/swagger-init.js``) instead of FastAPI's inline one: it works offline and
its page gets a strict policy with no CDN (``reelstream.web.security.DOCS_POLICY``). FastAPI's
own ``/docs``, its OAuth2 redirect page (no OAuth2 flow here: tokens are pasted into
"Authorize") and ReDoc (not vendored) are turned off in the app factory.

``/favicon.ico``, which browsers and crawlers ask for whatever the page links, redirects to the
SVG icon the pages link (``static/favicon.svg``).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

SWAGGER = "/static/vendor/swagger-ui"
DOCS_HTML = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reelstream API</title>
<link rel="icon" type="image/png" href="{SWAGGER}/favicon-32x32.png">
<link rel="stylesheet" href="{SWAGGER}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="{SWAGGER}/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs")
async def api_docs() -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, from local files only."""
    return HTMLResponse(DOCS_HTML)


@router.get("/favicon.ico")
async def favicon() -> RedirectResponse:
    return RedirectResponse("/static/favicon.svg", status_code=301)
