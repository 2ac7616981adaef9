"""The operator console at /console: server-rendered pages over the same core as the API.

Look up or validate a number and see its trail, find numbers by ref and
filters, see every scheme's use of its current period and its forecast, its
issuance drawn per hour and per day, webhook subscriptions (redeliver with
`numbers:admin`), held reservations, the event feed, the trail searched by
operator, ref system and time, an export to download, and retire or replace a
number with `numbers:admin`. Signing in takes an API key and begins a session
held on the server; the HttpOnly, SameSite=Strict cookie carries only its id,
and every form carries a CSRF token bound to it. No page shows
anything without a key, and no page loads anything from another origin.
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.api.pages import CONSOLE_PATH
from app.console import activity
from app.console.routes import router
from app.console.session import SignInRequired, to_sign_in

STATIC = Path(__file__).parent / "static"


def install_console(app: FastAPI) -> None:
    """Serve the console's pages and assets from `app`."""
    app.include_router(router)
    app.include_router(activity.router)
    app.mount(f"{CONSOLE_PATH}/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(SignInRequired, to_sign_in)
