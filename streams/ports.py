"""What the worker's steps need from the outside world, as protocols: a clock, consumed
records, a durable ledger and the outputs. Faust provides them in production
(:mod:`streams.app`); the unit tests pass a frozen clock, dicts and lists.

Nothing here blocks: a ledger write or an output send only buffers; Faust flushes both
before it commits the consumed offsets.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from forgood.domain.records import CampaignMinute, CampaignTotal, CampaignVideoBatch, CampaignVideoRows

Handle = TypeVar("Handle")
HandleIn = TypeVar("HandleIn", contravariant=True)


class Clock(Protocol):
    """Wall-clock time, injected so tests can freeze it. Used for validation ("not in the
    future"), campaign windows, the pending TTL (processing time), freshness metrics and
    ``updated_at``; never for versions."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def time(self) -> float:
        """The current time in epoch seconds."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()


class SourceRecord(Protocol):
    """What a step reads of a consumed Kafka record (Faust's ``Message`` has all of it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class Consumed(Generic[Handle]):
    """A consumed source record handed to the matching step, with an opaque ``handle`` the
    :class:`Ledger` gets back with each write made for it (Faust's event: a table write goes
    to the changelog partition of the event made current)."""

    __slots__ = ("record", "handle")

    def __init__(self, record: SourceRecord, handle: Handle) -> None:
        self.record = record
        self.handle = handle


class Delivery(Generic[Handle]):
    """A forwarded record handed to the counting step, with its offset and ``handle`` (as
    :class:`Consumed`)."""

    __slots__ = ("value", "offset", "handle")

    def __init__(self, value: bytes, offset: int, handle: Handle) -> None:
        self.value = value
        self.offset = offset
        self.handle = handle


class Ledger(Protocol[HandleIn]):
    """A durable, append-only ledger state is rebuilt from (a changelogged Faust table)."""

    def append(self, handle: HandleIn, key: str, entry: bytes) -> None:
        """Write one entry for the record with ``handle``; buffered, flushed before commit."""
        ...

    def entries(self) -> Iterable[tuple[str, bytes]]:
        """Every entry, in the order they were written."""
        ...


class Outputs(Protocol):
    """Where the steps send records. Every method only buffers (never blocks); the records
    are sent before the consumed offsets are committed."""

    def forward(self, batch: CampaignVideoBatch) -> None:
        """To ``forgood-campaign-videos``, keyed by campaign."""
        ...

    def total(self, row: CampaignTotal) -> None:
        """To ``forgood-campaign-totals``."""
        ...

    def minute(self, row: CampaignMinute) -> None:
        """To ``forgood-campaign-minutes``."""
        ...

    def video_rows(self, rows: CampaignVideoRows) -> None:
        """Audit rows to ``forgood-campaign-video-rows``, keyed by campaign."""
        ...

    def dead_letter(self, record: SourceRecord, headers: list[tuple[str, bytes]]) -> None:
        """The record's original key and bytes to its source topic's dead-letter topic
        (``record.topic`` + ``.dlq``), with ``headers``."""
        ...
