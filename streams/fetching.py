"""How long the worker's consumer lets a fetch wait for data.

faust-streaming 0.15.3 builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` and no
setting to change it. Apache Kafka answers a fetch as soon as data arrives, so the value only
matters when idle; tansu answers when the wait expires, so every hop of the pipeline (source →
stage 1 → stage 2) waited up to 1.5 s. Measured here with one record produced at a random
moment: ~0.12–0.52 s until received at 1500 ms, ~0.01–0.10 s at 200 ms (see README,
Performance). :func:`install` makes the worker's consumer use ``FORGOOD_FETCH_MAX_WAIT_MS``.
"""

from __future__ import annotations

from faust.transport.drivers import aiokafka as faust_aiokafka

_ATTRIBUTE = "forgood_fetch_max_wait_ms"
_installed = False


def install() -> None:
    """Patch Faust's consumer factory once per process (idempotent)."""
    global _installed
    if _installed:
        return
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = thread._create_worker_consumer

    def create_worker_consumer(self, transport):
        consumer = original(self, transport)
        wait_ms = getattr(self.app, _ATTRIBUTE, None)
        if wait_ms is not None:  # read by AIOKafkaConsumer.start() when it builds its fetcher
            consumer._fetch_max_wait_ms = wait_ms
        return consumer

    thread._create_worker_consumer = create_worker_consumer
    _installed = True


def set_fetch_max_wait(app, wait_ms: int) -> None:
    """Make ``app``'s worker consumer wait at most ``wait_ms`` for a fetch (before it starts)."""
    install()
    setattr(app, _ATTRIBUTE, wait_ms)
