"""The console's pages: each reads through the core, as the API routes do, and renders HTML."""

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import services_of
from app.api.models.numbers import ListFilters
from app.api.pages import CONSOLE_PATH
from app.api.problems import status_of
from app.api.security import client_address
from app.console.forecasts import forecast_text, scheme_forecast
from app.console.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SIGN_IN_FORM_SECONDS,
    CsrfRejected,
    Operator,
    check_csrf,
    check_sign_in_csrf,
    csrf_token_of,
    keep_cookie,
    sign_in,
    sign_out,
    signed_in,
)
from app.core.audit import number_trail
from app.core.errors import (
    CustidError,
    NumberNotFound,
    RateLimited,
    Unauthorized,
    as_custid_error,
)
from app.core.records import find_issued, find_numbers
from app.core.scopes import Scope
from app.core.utilisation import current_utilisation
from app.core.validation import validate_number
from app.store.errors import StoreError

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates


@cache
def templates() -> "Jinja2Templates":
    """The pages' templates, loaded by the first page rather than at start: jinja2 costs
    every start of the service a tenth of a second, and most replicas never show a page."""
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=Path(__file__).parent / "templates")


router = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)

OperatorDep = Annotated[Operator, Depends(signed_in)]
# What an operator types in a form: trimmed, and never longer than any field it fills.
FormText = Annotated[str, Form(max_length=1000)]
CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=100)]
ACTIONS = {"retire": "retired", "replace": "replaced"}


def page(
    request: Request,
    template: str,
    operator: Operator | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A rendered page; signed out, it keeps the sign-in form's CSRF token in its cookie."""
    csrf = operator.csrf if operator is not None else csrf_token_of(request)
    response = templates().TemplateResponse(
        request,
        template,
        {"operator": operator, "csrf_field": CSRF_FIELD, "csrf": csrf, **context},
        status_code=status_code,
    )
    if operator is None and request.cookies.get(CSRF_COOKIE) != csrf:
        keep_cookie(response, request, CSRF_COOKIE, csrf, SIGN_IN_FORM_SECONDS)
    return response


@router.get("/login")
async def login_page(request: Request, expired: bool = False) -> HTMLResponse:
    message = "Your session has ended; sign in again." if expired else None
    return page(request, "login.html", None, error=message)


@router.post("/login")
async def login(request: Request, api_key: FormText, csrf_token: CsrfField) -> Response:
    try:
        check_sign_in_csrf(request, csrf_token)
    except CsrfRejected:
        return page(request, "login.html", None, 403, error="The form expired; try again.")
    services = services_of(request)
    try:
        caller = await services.gatekeeper.sign_in(api_key.strip(), client_address(request))
    except Unauthorized:
        return page(request, "login.html", None, 401, error="That API key is not valid.")
    except RateLimited as exc:
        message = f"Too many failed sign-ins; try again in {exc.wait_seconds} s."
        return page(request, "login.html", None, 429, error=message)
    if Scope.READ.value not in caller.scopes:
        return page(request, "login.html", None, 403, error="That key lacks numbers:read.")
    response = RedirectResponse(CONSOLE_PATH, status_code=303)
    sign_in(response, request, await services.console_sessions.begin(caller))
    return response


@router.post("/logout")
async def logout(request: Request, operator: OperatorDep, csrf_token: CsrfField) -> Response:
    try:
        check_csrf(request, csrf_token)
    except CsrfRejected:
        return RedirectResponse(CONSOLE_PATH, status_code=303)  # still signed in
    await services_of(request).console_sessions.end(operator.session_id)
    response = RedirectResponse(f"{CONSOLE_PATH}/login", status_code=303)
    sign_out(response)
    return response


@router.get("")
async def schemes_page(request: Request, operator: OperatorDep) -> HTMLResponse:
    """Every scheme and how full its current period is."""
    services = services_of(request)
    now = services.clock()
    rows = []
    for scheme in services.schemes.values():
        usage = await current_utilisation(scheme, services.db, now)
        forecast = await scheme_forecast(request, scheme)
        first = None if forecast is None else forecast.first
        rows.append(
            {
                "name": scheme.name,
                "kind": scheme.kind,
                "description": scheme.description,
                "example": services.issuer.example(scheme),
                "period": usage.period or "(never resets)",
                "capacity": usage.capacity,
                "used": max((p.used for p in usage.partitions), default=0),
                "share": usage.share,
                "forecast": forecast_text(first) if forecast is not None else "-",
                "running_out": first is not None and first.before_period_end,
            }
        )
    return page(request, "schemes.html", operator, schemes=rows)


@router.get("/lookup")
async def lookup(
    operator: OperatorDep, number: Annotated[str, Query(max_length=256)] = ""
) -> Response:
    """The lookup form's target: the number's own page."""
    target = f"{CONSOLE_PATH}/numbers/{quote(number.strip(), safe='')}" if number.strip() else ""
    return RedirectResponse(target or CONSOLE_PATH, status_code=303)


@router.get("/numbers")
async def numbers_page(
    request: Request,
    operator: OperatorDep,
    ref: Annotated[str, Query(max_length=256)] = "",
    scheme: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    order: Annotated[str, Query(max_length=16)] = "newest",
    cursor: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """Recent numbers, newest first unless asked otherwise, filtered as the API filters them."""
    services = services_of(request)
    chosen = {
        "ref": ref.strip(),
        "scheme": scheme,
        "status": status,
        "order": order if order in ("newest", "oldest") else "newest",
    }
    error = None
    records: list[Any] = []
    next_link = None
    try:
        filters = ListFilters.model_validate(
            {name: value for name, value in chosen.items() if value} | {"limit": 50}
        )
        found = await find_numbers(
            services.db,
            scheme=filters.scheme,
            ref=filters.ref,
            status=filters.status,
            newest_first=filters.order == "newest",
            cursor=cursor or None,
            limit=filters.limit,
        )
        records = found.numbers
        if found.next_cursor is not None:
            next_link = "?" + urlencode({**chosen, "cursor": found.next_cursor})
    except (CustidError, StoreError) as exc:
        error = as_custid_error(exc).detail
    except ValueError:
        error = "Choose a status and an order from the lists."
    return page(
        request,
        "numbers.html",
        operator,
        records=records,
        chosen=chosen,
        scheme_names=sorted(services.schemes),
        next_link=next_link,
        error=error,
    )


@router.get("/numbers/{number}")
async def number_page(
    request: Request,
    operator: OperatorDep,
    number: str,
    done: Annotated[str, Query(max_length=16)] = "",
    previous: Annotated[str, Query(alias="from", max_length=256)] = "",
) -> HTMLResponse:
    message = None
    if done in ACTIONS.values():
        message = f"{previous} was {done}." if previous else None
    return await render_number(request, operator, number, done=message)


async def render_number(
    request: Request,
    operator: Operator,
    number: str,
    status_code: int = 200,
    error: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    """A number's page: its record and trail if it was issued, and what its shape says."""
    services = services_of(request)
    validation = await validate_number(services.schemes, services.db, number)
    record = None
    trail: list[Any] = []
    try:
        record = await find_issued(services.db, number)
        trail = await number_trail(services.db, number)
    except NumberNotFound:
        status_code = 404 if status_code == 200 else status_code
    return page(
        request,
        "number.html",
        operator,
        status_code,
        number=number,
        record=record,
        validation=validation,
        trail=trail,
        error=error,
        done=done,
        scheme_names=sorted(services.schemes),
    )


@router.post("/numbers/{number}/{action}")
async def change_number(
    request: Request,
    operator: OperatorDep,
    number: str,
    action: str,
    reason: FormText,
    csrf_token: CsrfField,
) -> Response:
    """Retire or replace a number, with the reason given; `numbers:admin` only."""
    if action not in ACTIONS:
        return await render_number(request, operator, number, 404, error="No such action.")
    try:
        check_csrf(request, csrf_token)
    except CsrfRejected:
        return await render_number(
            request, operator, number, 403, error="The form expired; reload the page and retry."
        )
    if not operator.is_admin:
        return await render_number(
            request, operator, number, 403, error="Your key lacks numbers:admin."
        )
    if not reason.strip():
        return await render_number(request, operator, number, 422, error="Give a reason.")
    services = services_of(request)
    actor = operator.actor(request)
    try:
        if action == "retire":
            await services.lifecycle.retire(number, reason.strip(), actor)
            target = number
        else:
            replacement = await services.lifecycle.replace(number, reason.strip(), actor)
            target = replacement.successor.numbers[0]
    except (CustidError, StoreError) as exc:
        failed = as_custid_error(exc)
        return await render_number(
            request, operator, number, status_of(failed), error=failed.detail
        )
    query = urlencode({"done": ACTIONS[action], "from": number})
    return RedirectResponse(
        f"{CONSOLE_PATH}/numbers/{quote(target, safe='')}?{query}", status_code=303
    )
