"""Pages a browser renders: the API docs, served from custid's own files, and their policies.

Swagger UI and ReDoc come from fastapi-offline's copies of their assets, so
`/docs` and `/redoc` work where the internet does not (the intranet a
numbering service lives on). Every page carries a Content-Security-Policy that
keeps it to this origin: a page that tried to load from a CDN would be blocked,
not silently half-work.
"""

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app.api.document import TAGS, complete_the_document

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
DOCS_ASSETS_PATH = "/docs/assets"
CONSOLE_PATH = "/console"

COMMON_POLICY = (
    "default-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# FastAPI's Swagger UI and ReDoc pages start their viewers from an inline script,
# and ReDoc renders in a worker it builds from a blob.
DOCS_POLICY = (
    f"{COMMON_POLICY}; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
)
# The console's pages run no inline script at all.
CONSOLE_POLICY = f"{COMMON_POLICY}; script-src 'self'; style-src 'self'"


def page_headers(policy: str) -> list[tuple[bytes, bytes]]:
    """The headers every page under one policy is sent with."""
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]


# Path prefix -> headers; the request middleware adds them to every answer under the prefix.
PAGE_HEADERS: Mapping[str, list[tuple[bytes, bytes]]] = {
    DOCS_PATH: page_headers(DOCS_POLICY),
    REDOC_PATH: page_headers(DOCS_POLICY),
    CONSOLE_PATH: page_headers(CONSOLE_POLICY),
}


def application_with_docs(**fastapi_arguments: Any) -> FastAPI:
    """A FastAPI application whose `/docs` and `/redoc` load their assets from `/docs/assets`."""
    app = FastAPIOffline(
        docs_url=DOCS_PATH,
        redoc_url=REDOC_PATH,
        static_url=DOCS_ASSETS_PATH,
        openapi_tags=TAGS,
        **fastapi_arguments,
    )
    complete_the_document(app)
    return app


def openapi_text(app: FastAPI) -> str:
    """The app's OpenAPI document as the committed `openapi.json` holds it."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
