"""Who is signed in to the console: the API key in its cookie, and the CSRF token of its forms.

The key itself is the session: nothing is stored on the server, every replica
can read it, and revoking the key signs it out (within the gatekeeper's cache
time). The cookie is HttpOnly (no script reads it) and SameSite=Strict (no
other site's page sends it). Forms carry a random token that must match a
second cookie: a page on another origin can neither read it nor set it.
"""

import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from app.api.deps import request_id, services_of
from app.api.pages import CONSOLE_PATH
from app.core.api_keys import Caller
from app.core.audit import Actor
from app.core.errors import Forbidden, Unauthorized
from app.core.scopes import Scope

SESSION_COOKIE = "custid_console"
CSRF_COOKIE = "custid_console_csrf"
CSRF_FIELD = "csrf_token"
# A working day; after it the operator signs in again.
SESSION_SECONDS = 8 * 3600


class SignInRequired(Exception):
    """No valid key: the console answers with its sign-in page."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    """A form came without the token its page was served with."""


@dataclass(frozen=True)
class Operator:
    """The signed-in key, what it may do, and the token its forms carry."""

    caller: Caller
    token: str
    csrf: str

    @property
    def key_id(self) -> str | None:
        return self.caller.key_id

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN.value in self.caller.scopes

    def actor(self, request: Request) -> Actor:
        """Who acts in the audit trail: this key, in this request."""
        return Actor(self.caller.key_id, request_id(request))


async def signed_in(request: Request) -> Operator:
    """The operator whose key the cookie holds; `SignInRequired` without a readable one."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired()
    try:
        caller = await services_of(request).gatekeeper.admit(token, Scope.READ)
    except (Unauthorized, Forbidden) as exc:
        raise SignInRequired(exc.detail) from exc
    return Operator(caller, token, csrf_token_of(request))


def csrf_token_of(request: Request) -> str:
    """The browser's CSRF token (from its cookie), or a new one to set."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def check_csrf(request: Request, submitted: str) -> None:
    """`CsrfRejected` unless the form's token is the one in the browser's cookie."""
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected, submitted):
        raise CsrfRejected()


def keep_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None
) -> None:
    """Set one of the console's cookies: HttpOnly, SameSite=Strict, only for /console."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=CONSOLE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def sign_in(response: Response, request: Request, token: str) -> None:
    """Keep `token` as the session, with a fresh CSRF token for its forms."""
    keep_cookie(response, request, SESSION_COOKIE, token, SESSION_SECONDS)
    keep_cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(32), SESSION_SECONDS)


def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PATH)
    response.delete_cookie(CSRF_COOKIE, path=CONSOLE_PATH)


async def to_sign_in(request: Request, exc: Exception) -> Response:
    """Send a browser without a valid key to the sign-in page."""
    reason = exc.reason if isinstance(exc, SignInRequired) else ""
    target = f"{CONSOLE_PATH}/login" + ("?expired=1" if reason else "")
    response = RedirectResponse(target, status_code=303)
    if reason:
        sign_out(response)
    return response
