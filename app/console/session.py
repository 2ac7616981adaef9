"""Who is signed in to the console: the server-side session its cookie names, and the CSRF
token of its forms.

Signing in with an API key begins a session (`app/core/console_sessions.py`);
the cookie carries only the session's random id. It is HttpOnly (no script
reads it), SameSite=Strict (no other site's page sends it), limited to
/console, and Secure whenever the request came over HTTPS, directly or through
a proxy trusted by `CUSTID_FORWARDED_ALLOW_IPS`. A signed-in page's forms carry
a token derived from the session; the sign-in form, before any session exists,
carries a random token that must match a cookie of its own.

Every console page depends on `signed_in`, so a new page gets all of this by
declaring `OperatorDep`.
"""

import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from app.api.deps import request_id, services_of
from app.api.pages import CONSOLE_PATH
from app.core.api_keys import Caller
from app.core.audit import Actor
from app.core.console_sessions import SessionEnded, csrf_matches, csrf_token
from app.core.scopes import Scope

SESSION_COOKIE = "custid_console"
CSRF_COOKIE = "custid_console_csrf"
CSRF_FIELD = "csrf_token"
# The sign-in form's token: only until the operator signs in.
SIGN_IN_FORM_SECONDS = 3600


class SignInRequired(Exception):
    """No live session: the console answers with its sign-in page."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    """A form came without the token its page was served with."""


@dataclass(frozen=True)
class Operator:
    """The signed-in key, what it may do, its session, and the token its forms carry."""

    caller: Caller
    session_id: str
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
    """The operator of the session the cookie names; `SignInRequired` without a live one."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        raise SignInRequired()
    try:
        caller = await services_of(request).console_sessions.resume(session_id)
    except SessionEnded as exc:
        raise SignInRequired(exc.reason) from exc
    if Scope.READ.value not in caller.scopes:
        raise SignInRequired("the key lacks numbers:read")
    return Operator(caller, session_id, csrf_token(session_id))


def csrf_token_of(request: Request) -> str:
    """The sign-in form's CSRF token (from its cookie), or a new one to set."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def check_csrf(request: Request, submitted: str) -> None:
    """`CsrfRejected` unless a signed-in form's token is its session's."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or not csrf_matches(session_id, submitted):
        raise CsrfRejected()


def check_sign_in_csrf(request: Request, submitted: str) -> None:
    """`CsrfRejected` unless the sign-in form's token is the one in the browser's cookie."""
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected, submitted):
        raise CsrfRejected()


def keep_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int | None
) -> None:
    """Set one of the console's cookies: HttpOnly, SameSite=Strict, only for /console, and
    Secure when the browser reached us over HTTPS (a trusted proxy's word included)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=CONSOLE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def sign_in(response: Response, request: Request, session_id: str) -> None:
    """Hand the browser its session; the sign-in form's token is no longer needed."""
    lifetime = services_of(request).console_sessions.lifetime
    keep_cookie(response, request, SESSION_COOKIE, session_id, int(lifetime.total_seconds()))
    response.delete_cookie(CSRF_COOKIE, path=CONSOLE_PATH)


def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE_PATH)
    response.delete_cookie(CSRF_COOKIE, path=CONSOLE_PATH)


async def to_sign_in(request: Request, exc: Exception) -> Response:
    """Send a browser without a live session to the sign-in page."""
    reason = exc.reason if isinstance(exc, SignInRequired) else ""
    target = f"{CONSOLE_PATH}/login" + ("?expired=1" if reason else "")
    response = RedirectResponse(target, status_code=303)
    if reason:
        sign_out(response)
    return response
