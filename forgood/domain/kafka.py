"""The Kafka adapter: bootstrap parsing, client factories and reading a topic to its end.

Every forgood process builds its Kafka clients here, so they share one reading of
``FORGOOD_KAFKA_BOOTSTRAP`` and the same common options:

* :func:`bootstrap_servers` turns the setting into a list of ``host:port`` (pure; raises
  :class:`~forgood.domain.errors.ConfigError` naming the bad entry);
* :func:`make_producer`, :func:`make_consumer`, :func:`make_admin` build kafka-python
  clients (producers/, sinks/, the CLI, topic creation) with ``reconnect_backoff_max_ms=1000``
  (kafka-python's 30 s default outlasts a broker restart) and a client id;
  :func:`aio_consumer_config` / :func:`make_aio_consumer` the same for aiokafka consumers
  (streams/, forgood/serve/). The ``*_config`` functions only build the keyword arguments;
  the ``make_*`` functions construct the client, which for kafka-python blocks until a
  broker answers and raises a ``kafka.errors.KafkaError`` if none does (kafka-python 3:
  ``KafkaTimeoutError`` once its timeout has passed);
* :func:`read_to_end` (and :func:`read_topic`, which brings its own consumer) reads a topic,
  or given partitions, from the beginning (or a group's committed offsets) to the end
  offsets it had when the call started, bounded by a timeout.

Nothing here depends on which Kafka deployment is on the other end: only the standard
requests (Metadata, ListOffsets, Fetch, OffsetCommit) are used.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaTimeoutError

from forgood.domain.errors import ConfigError
from forgood.domain.settings import Settings

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

#: Port a bootstrap entry without one gets (the Kafka clients' own default).
DEFAULT_PORT = 9092
#: Common to every kafka-python client: notice a restarted broker within a second.
RECONNECT_BACKOFF_MAX_MS = 1000

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


# --- bootstrap ---------------------------------------------------------------------------

def bootstrap_servers(source: Settings | str) -> list[str]:
    """``FORGOOD_KAFKA_BOOTSTRAP`` (or the same text) as a list of ``host:port``. Pure.

    Entries are comma separated; spaces around them are ignored; an entry without a port gets
    9092 (as the Kafka clients would); IPv6 addresses are written ``[addr]:port``. Raises
    :class:`ConfigError` naming the entry when one is empty, has a scheme (``kafka://``), a
    malformed host or a port outside 1-65535.
    """
    text = source.kafka_bootstrap if isinstance(source, Settings) else source
    entries = [entry.strip() for entry in text.split(",")]
    if not any(entries):
        raise ConfigError(f"FORGOOD_KAFKA_BOOTSTRAP is empty; expected host:port[,host:port…], "
                          f"e.g. 127.0.0.1:{DEFAULT_PORT}")
    return [_server(entry, text) for entry in entries]


def _server(entry: str, text: str) -> str:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"FORGOOD_KAFKA_BOOTSTRAP={text!r}: {why}; expected host:port[,host:port…]")

    if not entry:
        raise bad("an entry is empty (a stray comma?)")
    if "://" in entry:
        raise bad(f"{entry!r} has a scheme; give host:port only")
    port_text = ""
    if entry.startswith("["):
        host, sep, rest = entry[1:].partition("]")
        if not sep or not host or (rest and not rest.startswith(":")) or not re.fullmatch(r"[0-9A-Fa-f:.]+", host):
            raise bad(f"{entry!r} is not [ipv6]:port")
        host, port_text = f"[{host}]", rest[1:]
        if rest and not port_text:
            raise bad(f"{entry!r} has an empty port")
    else:
        if entry.count(":") > 1:
            raise bad(f"{entry!r} has several colons (write an IPv6 address as [addr]:port)")
        host, sep, port_text = entry.partition(":")
        if sep and not port_text:
            raise bad(f"{entry!r} has an empty port")
        if not _HOST.fullmatch(host):
            raise bad(f"{entry!r} has no valid host name")
    if not port_text:
        return f"{host}:{DEFAULT_PORT}"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise bad(f"{entry!r} has an invalid port {port_text!r} (1-65535)")
    return f"{host}:{int(port_text)}"


# --- client factories --------------------------------------------------------------------

def producer_config(settings: Settings, *, client_id: str = "forgood-producer") -> dict[str, Any]:
    """Keyword arguments of forgood's producer: ``acks=all``, 5 retries, 20 ms linger, 256 KiB
    batches, 4 MiB requests, 30 s request timeout. Pure (raises ConfigError on a bad bootstrap)."""
    return dict(
        bootstrap_servers=bootstrap_servers(settings),
        client_id=client_id,
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
        retries=5,
        request_timeout_ms=30_000,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )


def make_producer(settings: Settings, *, client_id: str = "forgood-producer") -> KafkaProducer:
    """A batching kafka-python producer (:func:`producer_config`); blocks until a broker answers.

    :meth:`~kafka.KafkaProducer.send` returns at once (it buffers);
    :meth:`~kafka.KafkaProducer.flush` blocks until every buffered record is acknowledged or
    has failed, which each record's future reports.
    """
    return KafkaProducer(**producer_config(settings, client_id=client_id))


def consumer_config(settings: Settings, *, client_id: str, group_id: str | None = None,
                    **options: Any) -> dict[str, Any]:
    """Keyword arguments of a kafka-python consumer: auto-commit off, the common reconnect
    backoff, then ``options`` (which win). ``group_id`` names the group whose offsets it reads
    and commits; None reads without one. Pure."""
    return dict(
        bootstrap_servers=bootstrap_servers(settings),
        client_id=client_id,
        group_id=group_id,
        enable_auto_commit=False,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        **options,
    )


def make_consumer(settings: Settings, *, client_id: str, group_id: str | None = None,
                  **options: Any) -> KafkaConsumer:
    """A kafka-python consumer (:func:`consumer_config`), subscribed to nothing: the caller
    assigns partitions. Blocks until a broker answers; the caller closes it."""
    return KafkaConsumer(**consumer_config(settings, client_id=client_id, group_id=group_id, **options))


def admin_config(settings: Settings, *, client_id: str = "forgood-admin") -> dict[str, Any]:
    """Keyword arguments of the admin client: 15 s request timeout, common backoff. Pure."""
    return dict(
        bootstrap_servers=bootstrap_servers(settings),
        client_id=client_id,
        request_timeout_ms=15000,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )


def make_admin(settings: Settings, *, client_id: str = "forgood-admin") -> KafkaAdminClient:
    """A kafka-python admin client; blocks until a broker answers, raises a
    ``kafka.errors.KafkaError`` (``KafkaTimeoutError``) if none does. The caller closes it."""
    return KafkaAdminClient(**admin_config(settings, client_id=client_id))


def aio_consumer_config(settings: Settings, *, client_id: str | None, group_id: str | None = None,
                        **options: Any) -> dict[str, Any]:
    """Keyword arguments of an aiokafka consumer: auto-commit off, ``earliest`` where no offset
    is known, then ``options`` (which win). Pure."""
    config: dict[str, Any] = dict(
        bootstrap_servers=bootstrap_servers(settings),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    if client_id is not None:
        config["client_id"] = client_id
    config.update(options)
    return config


def make_aio_consumer(settings: Settings, *, client_id: str | None, group_id: str | None = None,
                      **options: Any) -> AIOKafkaConsumer:
    """An ``aiokafka.AIOKafkaConsumer`` (:func:`aio_consumer_config`), not started: nothing
    connects until the caller awaits ``start()``; the caller awaits ``stop()``."""
    from aiokafka import AIOKafkaConsumer  # only the asyncio processes need aiokafka

    return AIOKafkaConsumer(**aio_consumer_config(settings, client_id=client_id, group_id=group_id, **options))


# --- reading to the end ------------------------------------------------------------------

class ReadTimeout(TimeoutError):
    """:func:`read_to_end` did not reach the end offsets in time; ``records`` holds what it
    read (in order per partition), and the consumer's positions are just past them."""

    def __init__(self, message: str, records: list) -> None:
        super().__init__(message)
        self.records = records


def _ms_left(deadline: float) -> int:
    return max(0, int((deadline - time.monotonic()) * 1000))


def read_to_end(consumer: KafkaConsumer, source: str | Iterable[TopicPartition], *, timeout_s: float,
                from_committed: bool = False) -> list:
    """Read ``source`` (a topic name: all of its partitions; or given partitions) to the end
    offsets it had when the call started, and return the records (``ConsumerRecord``), in
    offset order per partition. Blocks up to ``timeout_s`` in all.

    The partitions are assigned to ``consumer`` and read from the beginning, or with
    ``from_committed`` from the consumer's group's committed offsets (where it has none, its
    ``auto_offset_reset``). Records appended after the call started are not returned. On
    return the consumer's position on every partition is just past the last record returned
    (the end offset), so ``consumer.commit()`` commits exactly what was read. A topic the
    broker does not know reads as empty. Raises :class:`ReadTimeout` (a ``TimeoutError``,
    carrying the records read so far) if the end is not reached in time, which is also what an
    unreachable broker looks like; other Kafka errors propagate.
    """
    deadline = time.monotonic() + timeout_s
    if isinstance(source, str):
        tps = [TopicPartition(source, p) for p in sorted(consumer.partitions_for_topic(source) or ())]
    else:
        tps = list(source)
    if not tps:
        return []
    consumer.assign(tps)
    if not from_committed:
        consumer.seek_to_beginning(*tps)
    try:
        ends = consumer.end_offsets(tps, timeout_ms=_ms_left(deadline))
    except KafkaTimeoutError:
        raise ReadTimeout(f"could not look up the end of {len(tps)} partition(s) in {timeout_s} s", []) from None
    records: list = []
    pending = list(tps)
    overshot: set = set()
    try:
        while True:
            for tp in list(pending):
                position = consumer.position(tp, timeout_ms=_ms_left(deadline))
                if position is not None and position >= ends[tp]:
                    pending.remove(tp)
                    consumer.pause(tp)  # fetch nothing past its end
            if not pending:
                return records
            left = _ms_left(deadline)
            if left <= 0:
                raise ReadTimeout(f"not caught up with {len(pending)} of {len(tps)} partition(s) "
                                  f"in {timeout_s} s", records)
            for tp, batch in consumer.poll(timeout_ms=min(300, left)).items():
                records.extend(r for r in batch if r.offset < ends[tp])
                if batch and batch[-1].offset >= ends[tp]:
                    overshot.add(tp)
    finally:
        for tp in overshot:  # the fetch ran past the end: step back to it
            consumer.seek(tp, ends[tp])
        consumer.resume(*tps)


def read_topic(settings: Settings, topic: str, *, timeout_s: float, client_id: str) -> list:
    """Every record of ``topic`` from the beginning to its end as of the call (:func:`read_to_end`)
    with a consumer of its own (no group, nothing committed), closed before returning. Blocks
    up to ``timeout_s`` (plus connecting); raises :class:`ReadTimeout` like :func:`read_to_end`."""
    consumer = make_consumer(settings, client_id=client_id)
    try:
        return read_to_end(consumer, topic, timeout_s=timeout_s)
    finally:
        consumer.close()
