"""The audit floor (issue 14): proving every number after the fact.

Reads what the sink wrote to ClickHouse — the per-video rows of ``forgood.campaign_videos``,
the aggregates, the campaign changes — and, for ``reconcile --from-source``, the source topics;
writes only ``forgood.settlements`` (``forgood settle``). Used by the ``forgood`` commands
``reconcile``, ``statement``, ``settle``, ``video`` and ``campaigns history`` and by the
counter service's video lookup. Nothing here runs in the stream worker.
"""
