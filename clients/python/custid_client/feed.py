"""Following the event feed: page after page from a cursor, and the cursor to resume from.

A consumer keeps `position` wherever it keeps its own progress and starts again from
it: no event is lost, and at most the page it was reading comes again (deduplicate on
the event `id`, as with webhook deliveries).
"""

import asyncio
import inspect
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypeVar, overload

from custid_client import calls
from custid_client.calls import Call
from custid_client.models import Event, EventPage

if TYPE_CHECKING:
    from custid_client.client import AsyncCustidClient, CustidClient

T = TypeVar("T")
P = ParamSpec("P")


class Sender(Protocol):
    """What the blocking client does for a feed: send a call and wait for its answer."""

    def send(self, call: Call[T]) -> T: ...


class AsyncSender(Protocol):
    """What the asyncio client does for a feed."""

    async def send(self, call: Call[T]) -> T: ...


C = TypeVar("C", Sender, AsyncSender)


@dataclass
class FeedState:
    """Where a reader of the feed stands: what both the blocking and the asyncio feed do
    between two pages."""

    position: str | None
    types: Sequence[str]
    schemes: Sequence[str]
    page_size: int
    pending: deque[Event] = field(default_factory=deque)
    # The cursor after the page being handed out; it becomes `position` once every event
    # of the page has been taken and the next is asked for.
    page_end: str | None = None

    def request(self) -> Call[EventPage]:
        """The next page's call; asked only once every pending event was taken."""
        if self.page_end is not None:
            self.position, self.page_end = self.page_end, None
        return calls.events_page.build(
            after=self.position, types=self.types, schemes=self.schemes, limit=self.page_size
        )

    def receive(self, page: EventPage) -> bool:
        """Take a page; True when the feed has nothing new after `position` yet."""
        if page.events:
            self.pending.extend(page.events)
            self.page_end = page.next_cursor
            return False
        # No event, but a cursor that moved (past events the filters leave out): read on.
        caught_up = page.next_cursor == self.position
        self.position = page.next_cursor
        return caught_up


class _Following(Generic[C]):
    """A feed being followed for one client, from `state` on."""

    def __init__(self, client: C, state: FeedState, follow: bool, poll_seconds: float) -> None:
        self._client: C = client
        self._state = state
        self._follow = follow
        self._poll_seconds = poll_seconds

    @property
    def position(self) -> str | None:
        """Resume here (`after=`) to read every event not yet taken from this feed."""
        return self._state.position


class EventFeed(_Following[Sender], Iterator[Event]):
    """The feed's events in commit order, page by page; with `follow`, waiting for new ones
    instead of stopping at the end. `position` is the cursor to resume from."""

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        while not self._state.pending:
            if self._state.receive(self._client.send(self._state.request())):
                if not self._follow:
                    raise StopIteration
                time.sleep(self._poll_seconds)
        return self._state.pending.popleft()


class AsyncEventFeed(_Following[AsyncSender], AsyncIterator[Event]):
    """`EventFeed` for the asyncio client: `async for event in feed`."""

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while not self._state.pending:
            if self._state.receive(await self._client.send(self._state.request())):
                if not self._follow:
                    raise StopAsyncIteration
                await asyncio.sleep(self._poll_seconds)
        return self._state.pending.popleft()


@dataclass(frozen=True)
class Reading:
    """How to read the feed: from where, which events, and whether to wait for more."""

    state: FeedState
    follow: bool
    poll_seconds: float


class FeedOperation(Generic[P]):
    """Reading the feed as a method of both clients: an `EventFeed` for `CustidClient`, an
    `AsyncEventFeed` for `AsyncCustidClient`."""

    def __init__(self, build: Callable[P, Reading]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: "CustidClient", owner: type[Any]) -> Callable[P, EventFeed]: ...

    @overload
    def __get__(
        self, client: "AsyncCustidClient", owner: type[Any]
    ) -> Callable[P, AsyncEventFeed]: ...

    @overload
    def __get__(self, client: None, owner: type[Any]) -> "FeedOperation[P]": ...

    def __get__(self, client: Any, owner: type[Any]) -> Any:
        if client is None:
            return self
        feed = AsyncEventFeed if inspect.iscoroutinefunction(client.send) else EventFeed

        def read(*args: P.args, **kwargs: P.kwargs) -> Any:
            reading = self.build(*args, **kwargs)
            return feed(client, reading.state, reading.follow, reading.poll_seconds)

        read.__doc__ = self.__doc__
        return read


@FeedOperation
def events(
    *,
    after: str | None = None,
    types: Sequence[str] = (),
    schemes: Sequence[str] = (),
    follow: bool = False,
    page_size: int = 100,
    poll_seconds: float = 1.0,
) -> Reading:
    """The event feed after the cursor `after` (from the start without one), one event at a
    time, page after page; with `follow`, waiting for new events (asking every
    `poll_seconds`) instead of stopping at the end. Keep the feed's `position` and pass it
    as `after` to resume. `async for` reads it on the asyncio client."""
    return Reading(FeedState(after, types, schemes, page_size), follow, poll_seconds)
