"""Reading a topic from kafka-python up to its current end, by the fetch highwater.

"Read to the end" means: poll until every partition's position reaches the highwater the
last fetch returned. That needs no separate ListOffsets request, and it is the end as the
broker saw it while serving the fetch.
"""

from __future__ import annotations

import time
from typing import Iterator

from kafka import KafkaConsumer


def records_to_end(consumer: KafkaConsumer, tps: list, timeout_s: float) -> Iterator:
    """Yield records of the assigned ``tps`` until each is read to its highwater.

    Blocks up to ``timeout_s`` in all; returns normally when caught up and raises
    ``TimeoutError`` otherwise (records read so far have been yielded).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=300).values():
            yield from batch
        highwaters = [consumer.highwater(tp) for tp in tps]
        if None not in highwaters and all(consumer.position(tp) >= hw for tp, hw in zip(tps, highwaters)):
            return
    raise TimeoutError(f"not caught up with {len(tps)} partition(s) in {timeout_s} s")
