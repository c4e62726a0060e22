"""Producers: publish video-created events and campaigns to Kafka (kafka-python).

Imports only the shared domain package ``forgood``; never ``streams`` or ``sinks``.
"""
