"""Publishing campaigns to the compacted campaigns topic, and reading them back.

``forgood campaigns apply FILE`` validates the whole file first (:func:`forgood.domain.campaigns.
load_campaign_file`); only if every campaign is valid does it publish, one record per
campaign keyed by id. Running workers pick the change up within about a second.
"""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition

from forgood.domain.campaigns import Campaign
from forgood.domain.errors import ProducerError
from forgood.domain.settings import Settings
from forgood.domain.topics import ensure_topics
from producers.client import make_producer
from producers.reading import records_to_end


def publish_campaigns(settings: Settings, campaigns: tuple[Campaign, ...]) -> None:
    """Create the topics if needed, publish every campaign, and wait for all acknowledgements."""
    ensure_topics(settings)
    producer = make_producer(settings, client_id="forgood-campaigns")
    try:
        futures = [
            producer.send(settings.campaigns_topic, key=c.id.encode(), value=c.to_json())
            for c in campaigns
        ]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)
    except Exception as exc:
        raise ProducerError(f"publishing campaigns failed: {exc}") from exc
    finally:
        producer.close(timeout=5)


def read_campaigns(settings: Settings, timeout_s: float = 10.0) -> dict[str, Campaign]:
    """Read the campaigns topic from the beginning to its end; blocks up to ``timeout_s``."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        client_id="forgood-campaign-reader",
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    try:
        partitions = consumer.partitions_for_topic(settings.campaigns_topic) or set()
        tps = [TopicPartition(settings.campaigns_topic, p) for p in partitions]
        if not tps:
            return {}
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        campaigns: dict[str, Campaign] = {}
        try:
            for record in records_to_end(consumer, tps, timeout_s):
                key = record.key.decode()
                if record.value is None:
                    campaigns.pop(key, None)
                else:
                    campaigns[key] = Campaign.from_json(record.value)
        except TimeoutError:
            raise ProducerError(f"could not read {settings.campaigns_topic} to its end in {timeout_s} s") from None
        return campaigns
    finally:
        consumer.close()
