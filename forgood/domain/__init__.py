"""forgood's shared domain: record contracts, event schema, campaign model and rules, money,
settings, errors, topics and the Kafka adapter.

Imported by ``producers``, ``streams``, ``sinks`` and ``forgood.serve`` alike; imports none of
them.
"""
