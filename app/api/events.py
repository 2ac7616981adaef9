"""The event feed: every change to a number, in order, from any point a consumer left off."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import ServicesDep
from app.api.document import links
from app.api.models.events import EventPage, EventType, FeedEvent
from app.api.models.fields import SchemeName
from app.api.problems import problem_responses
from app.api.routing import ApiRoute
from app.api.security import ReaderActor, auth_errors
from app.core import grammar
from app.core.errors import BackendUnavailable, InvalidCursor
from app.core.events.feed import read_feed
from app.core.scopes import Scope

router = APIRouter(prefix="/v1", tags=["events"], route_class=ApiRoute)


@router.get(
    "/events",
    response_model=EventPage,
    responses={
        200: {
            "description": "The events after the cursor, and the cursor to read on from.",
            "links": links(
                "after",
                "$response.body#/next_cursor",
                {"list_events": "The events that come after these."},
            ),
        },
        **problem_responses(
            InvalidCursor("bm90LWEtY3Vyc29y"),
            BackendUnavailable("database"),
            *auth_errors(Scope.READ),
        ),
    },
    summary="Read the event feed",
    operation_id="list_events",
)
async def events(
    actor: ReaderActor,
    services: ServicesDep,
    after: Annotated[
        str | None,
        Query(
            max_length=grammar.CURSOR.max_length,
            description="A cursor from `next_cursor`; none: from the start.",
            json_schema_extra={"pattern": grammar.CURSOR.pattern},
        ),
    ] = None,
    event_type: Annotated[
        list[EventType] | None,
        Query(alias="type", description="Only these types (repeat for several)."),
    ] = None,
    scheme: Annotated[
        list[SchemeName] | None,
        Query(description="Only numbers of these schemes (repeat for several)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """Events in the order they committed, as many as `limit`, after the cursor `after`.

    Keep `next_cursor` and ask again with it: a consumer that was away reads on
    from where it stopped, without gaps. Each event's `number` is the record as
    it stood after that change.
    """
    page = await read_feed(services.db, after, event_type or (), scheme or (), limit)
    return EventPage(
        events=[FeedEvent.model_validate(event.payload()) for event in page.events],
        next_cursor=page.next_cursor,
    )
