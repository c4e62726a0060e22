"""Running the stream worker as a process (``forgood worker``; ``forgood run`` starts it).

:func:`run_worker` blocks until SIGINT/SIGTERM, then Faust stops the agents, flushes the
producer and commits what was processed. A crash at any point is safe: uncommitted events are
processed again and every step is idempotent.
"""

from __future__ import annotations

import logging

import faust

from forgood.domain.observability import serve_metrics
from forgood.domain.settings import Settings
from forgood.domain.topics import ensure_topics
from streams.app import build_app, changelog_topics
from streams.faust_patches.batch_monitor import prometheus_monitor

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> None:
    """Create topics, serve /metrics, and run the Faust worker in the foreground."""
    ensure_topics(settings, extra=changelog_topics(settings))
    (settings.state_dir / "worker").mkdir(parents=True, exist_ok=True)
    serve_metrics(settings, settings.worker_metrics_port)
    pipeline = build_app(settings)
    # Faust's own sensor, served by our /metrics server rather than Faust's web server.
    pipeline.app.monitor = prometheus_monitor()
    worker = faust.Worker(
        pipeline.app,
        loglevel=settings.log_level,
        quiet=True,
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
