"""forgood: everything pip installs besides the three pipeline floors.

* :mod:`forgood.domain` — the small shared room every floor imports: record contracts, the
  event schema, campaign model and counting rules, money, settings, errors, topics and the
  Kafka adapter. It imports no other forgood package.
* :mod:`forgood.serve` — the live counters (JSON API, SSE, pages).
* :mod:`forgood.stack` — the local stack (Kafka, ClickHouse, Prometheus, Alertmanager).
* :mod:`forgood.cli` — the ``forgood`` command line, the demo and the benchmark.

``producers``, ``streams`` and ``sinks`` stay top-level packages: they are the pipeline.
"""

__version__ = "0.1.0"
