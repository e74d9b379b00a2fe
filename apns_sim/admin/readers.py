"""Reading the journey log without polling in a loop: filters, waiting for a stage, streams of stages.

The admin server's long-poll and server-sent events, and the pytest plugin's ``wait_for_notification``,
all rest on :meth:`apns_sim.model.journeys.JourneyLog.subscribe`: a reader is woken by the stage being recorded,
never by a timer. Every open reader is registered in :class:`Readers`, so a shutting-down server wakes
them all instead of waiting for their timeouts. asyncio only; the HTTP layer lives in :mod:`apns_sim.admin.app`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from apns_sim.admin.render import notification_json, utf8_json
from apns_sim.model.journeys import Journey, JourneyLog

STREAM_QUEUE = 1000  # stages buffered per stream before its reader is told to catch up and dropped
OVERFLOW_FRAME = b'event: overflow\ndata: {"error": "this client fell behind; read /_sim/notifications"}\n\n'


def matches(journey: Journey, *, token: str | None = None, topic: str | None = None,
            apns_id: str | None = None) -> bool:
    """The filters of ``GET /_sim/notifications`` (case-insensitive for hex tokens and UUIDs)."""
    return ((token is None or journey.token.lower() == token.lower())
            and (topic is None or journey.topic == topic)
            and (apns_id is None or journey.apns_id.lower() == apns_id.lower()))


def reached(journey: Journey, stages: Iterable[str] | None) -> bool:
    """True if the journey has recorded any of ``stages`` (None or empty: any stage at all)."""
    wanted = set(stages or ())
    return not wanted or any(s["stage"] in wanted for s in journey.stages)


def find(journeys: JourneyLog, apns_id: str) -> Journey | None:
    """One journey by apns-id, as sent or in any letter case."""
    journey = journeys.get(apns_id)
    if journey is None:
        found = journeys.list(apns_id=apns_id)
        journey = found[-1] if found else None
    return journey


def stage_event(journey: Journey, entry: dict[str, Any]) -> dict[str, Any]:
    """One recorded stage with its notification (without the whole journey, which the log has)."""
    summary = notification_json(journey)
    del summary["journey"]
    return {"apns_id": journey.apns_id, **entry, "notification": summary}


def sse_frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    """A server-sent event (HTML Living Standard, "Server-sent events"; always UTF-8); JSON keeps ``data`` on one
    line (a line break inside a string is written as ``\\n``), Chinese as it is."""
    head = "" if event_id is None else f"id: {event_id}\n"
    return f"{head}event: {event}\ndata: {utf8_json(data)}\n\n".encode()


async def wait_for_journey(journeys: JourneyLog, *, token: str | None = None, topic: str | None = None,
                           apns_id: str | None = None, stages: Iterable[str] | None = None,
                           timeout: float = 10.0, waker: asyncio.Event | None = None,
                           cancelled: Callable[[], bool] = lambda: False) -> Journey | None:
    """The oldest matching journey that reached one of ``stages``; None after ``timeout`` or when cancelled.

    ``waker`` lets the caller wake it early (the admin server does so when it shuts down, and then
    ``cancelled()`` answers True).
    """
    stages = tuple(stages or ())
    wake = waker or asyncio.Event()
    unsubscribe = journeys.subscribe(lambda _journey, _entry: wake.set())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            wake.clear()
            for journey in journeys.list(token=token, topic=topic, apns_id=apns_id):
                if reached(journey, stages):
                    return journey
            remaining = deadline - loop.time()
            if remaining <= 0 or cancelled():
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), remaining)
    finally:
        unsubscribe()


class StageStream:
    """The stages of matching journeys as SSE frames, in a bounded queue; ``None`` ends the stream.

    The last slot of the queue is kept for the end marker, so a reader that falls behind is told
    (:data:`OVERFLOW_FRAME`) rather than silently missing stages.
    """

    def __init__(self, journeys: JourneyLog, filters: dict[str, Any], maxsize: int = STREAM_QUEUE) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize)
        self.ended = False
        self._filters = filters
        self._count = 0
        self._unsubscribe: Callable[[], None] | None = journeys.subscribe(self._on_stage)

    def _on_stage(self, journey: Journey, entry: dict[str, Any]) -> None:
        if self.ended or not matches(journey, **self._filters):
            return
        if self.queue.qsize() >= self.queue.maxsize - 1:
            self.ended = True
            self.queue.put_nowait(OVERFLOW_FRAME)
            return
        self._count += 1
        self.queue.put_nowait(sse_frame("stage", stage_event(journey, entry), self._count))

    def end(self) -> None:
        """No more stages: the reader gets ``None`` after what is queued."""
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(None)

    def close(self) -> None:
        """Stop listening to the log (the reader went away or the stream ended)."""
        self.ended = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


@dataclass
class Readers:
    """Open long-polls and streams of one server, so that shutdown can wake them all at once."""

    closing: bool = False
    wakers: set[asyncio.Event] = field(default_factory=set)
    streams: set[StageStream] = field(default_factory=set)

    def close(self) -> None:
        self.closing = True
        for waker in list(self.wakers):
            waker.set()
        for stream in list(self.streams):
            stream.end()
