"""Following the event feed, page by page, against answers scripted here: where a reader
resumes, when it stops, and that it never skips an event it did not finish."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import pytest
from custid_client.calls import Call
from custid_client.feed import EventFeed, FeedState
from custid_client.models import Event, EventPage, NumberRecord

T = TypeVar("T")
RECORD = NumberRecord("20231015001", "daily", 1, "20231015", "", 1, {}, datetime.now(UTC))


def event(number: int) -> Event:
    return Event(f"evt_{number}", "number.issued", datetime.now(UTC), None, None, None, RECORD)


class ScriptedFeed:
    """Answers each feed call with the next page of a script; records the cursors asked for."""

    def __init__(self, *pages: tuple[list[int], str]) -> None:
        self.pages = [EventPage([event(n) for n in ids], cursor) for ids, cursor in pages]
        self.asked: list[Any] = []

    def send(self, call: Call[T]) -> T:
        assert call.params is not None
        self.asked.append(call.params.get("after"))
        return cast(T, self.pages.pop(0))


def feed(answers: ScriptedFeed, after: str | None = None, follow: bool = False) -> EventFeed:
    return EventFeed(answers, FeedState(after, (), (), 2), follow, 0)


def ids(events: Iterator[Event]) -> list[str]:
    return [event.id for event in events]


def test_pages_are_followed_by_their_cursor_until_one_comes_back_unchanged() -> None:
    answers = ScriptedFeed(([1, 2], "c2"), ([3], "c3"), ([], "c3"))

    reader = feed(answers)

    assert ids(reader) == ["evt_1", "evt_2", "evt_3"]
    assert answers.asked == [None, "c2", "c3"]
    assert reader.position == "c3"


def test_the_position_moves_past_a_page_only_once_all_of_it_was_taken() -> None:
    answers = ScriptedFeed(([1, 2], "c2"), ([3], "c3"))
    reader = feed(answers, after="c0")

    first = next(reader)
    mid_page = reader.position
    second = next(reader)
    end_of_page = reader.position
    third = next(reader)

    assert ids(iter([first, second, third])) == ["evt_1", "evt_2", "evt_3"]
    # Resumed from `mid_page`, the page comes again: nothing taken is ever skipped.
    assert (mid_page, end_of_page, reader.position) == ("c0", "c0", "c2")


def test_an_empty_page_whose_cursor_moved_is_read_on_at_once() -> None:
    answers = ScriptedFeed(([], "c5"), ([6], "c6"), ([], "c6"))

    assert ids(feed(answers, after="c0")) == ["evt_6"]
    assert answers.asked == ["c0", "c5", "c6"]


def test_following_asks_again_after_the_end_instead_of_stopping() -> None:
    answers = ScriptedFeed(([1], "c1"), ([], "c1"), ([], "c1"), ([2], "c2"))
    reader = feed(answers, follow=True)

    taken = [next(reader), next(reader)]

    assert ids(iter(taken)) == ["evt_1", "evt_2"]
    assert answers.asked == [None, "c1", "c1", "c1"]


def test_a_feed_without_follow_ends() -> None:
    reader = feed(ScriptedFeed(([], "c0")), after="c0")

    with pytest.raises(StopIteration):
        next(reader)
