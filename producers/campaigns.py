"""Publishing campaigns to the compacted campaigns topic (``forgood campaigns apply FILE``).

The command validates the whole file first (:func:`forgood.domain.campaigns.load_campaign_file`);
only if every campaign is valid does it publish, one record per campaign keyed by id. Running
workers pick the change up within about a second. Reading the topic back is
:func:`forgood.cli.campaigns.read_campaigns`.
"""

from __future__ import annotations

from forgood.domain.campaigns import Campaign
from forgood.domain.errors import ProducerError
from forgood.domain.kafka import make_producer
from forgood.domain.settings import Settings
from forgood.domain.topics import ensure_topics


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
