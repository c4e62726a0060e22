"""forgood's live counter service (``forgood serve``): a read-only HTTP API with push updates
(Server-Sent Events) and embeddable counter pages, fed from ClickHouse at start and from the
aggregate topics after. See :mod:`forgood.serve.server` for why it is a process of its own."""
