"""Every consumer forgood runs can decode every codec a producer may use (gzip, snappy, lz4, zstd).

aiokafka 0.14 (the Faust worker, the campaign registry, serve) decodes snappy, lz4 and zstd
through ``cramjam``; kafka-python 3.0.12 (the sink, serve's offset reader, the CLI readers)
through ``python-snappy``, ``lz4`` and ``zstandard``. Without them a consumer raises on the
first such batch; these tests fail loudly instead when a library is missing from the
environment (see the compression pins in pyproject.toml).
"""

from __future__ import annotations

import aiokafka.codec
import kafka.codec
import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from kafka.record.memory_records import MemoryRecords as KafkaMemoryRecords
from kafka.record.memory_records import MemoryRecordsBuilder as KafkaRecordsBuilder

CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
VALUES = [b'{"event_id": "e-%d", "video_id": "v-%d", "hashtags": ["PlainTag"]}' % (i, i) for i in range(50)]


@pytest.mark.parametrize("library", [aiokafka.codec, kafka.codec], ids=["aiokafka", "kafka-python"])
@pytest.mark.parametrize("codec", sorted(CODECS))
def test_the_codec_library_is_installed(library, codec):
    assert getattr(library, f"has_{codec}")(), (
        f"{library.__name__} cannot decode {codec}: its library is missing (see pyproject.toml)"
    )


def aiokafka_batch(codec_id: int) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=codec_id, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for offset, value in enumerate(VALUES):
        builder.append(offset, timestamp=None, key=b"k", value=value, headers=[])
    return bytes(builder.build())


def kafka_python_batch(codec_id: int) -> bytes:
    builder = KafkaRecordsBuilder(magic=2, compression_type=codec_id, batch_size=1 << 20)
    for value in VALUES:
        builder.append(timestamp=None, key=b"k", value=value, headers=[])
    builder.close()
    return bytes(builder.buffer())


def aiokafka_read(data: bytes) -> tuple[int, list[bytes]]:
    records = MemoryRecords(data)
    batch = records.next_batch()
    return batch.compression_type, [record.value for record in batch]


def kafka_python_read(data: bytes) -> tuple[int, list[bytes]]:
    records = KafkaMemoryRecords(data)
    batch = records.next_batch()
    return batch.compression_type, [record.value for record in batch]


@pytest.mark.parametrize("codec", sorted(CODECS))
@pytest.mark.parametrize(
    "write, read",
    [(aiokafka_batch, kafka_python_read), (kafka_python_batch, aiokafka_read),
     (aiokafka_batch, aiokafka_read), (kafka_python_batch, kafka_python_read)],
    ids=["aiokafka->kafka-python", "kafka-python->aiokafka", "aiokafka->aiokafka", "kafka-python->kafka-python"],
)
def test_a_compressed_batch_written_by_one_client_is_read_by_the_other(codec, write, read):
    data = write(CODECS[codec])
    compression, values = read(data)
    assert compression == CODECS[codec]
    assert values == VALUES
    assert len(data) < sum(map(len, VALUES)), "the batch was not compressed"
