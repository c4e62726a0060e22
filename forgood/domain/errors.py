"""Base errors, one per layer, each marked retriable or not (as aiokafka's errors are).

A *retriable* error means the same call may succeed later (a server down, a timeout); callers
back off and retry it. A non-retriable error means the input or configuration is wrong and
retrying cannot help: the caller reports it (or dead-letters the input) and moves on.
"""

from __future__ import annotations


class ForgoodError(Exception):
    """Root of every error forgood raises on purpose."""

    retriable: bool = False


class ConfigError(ForgoodError):
    """Settings or a campaign file are invalid; the message says what and where."""


class InvalidEvent(ForgoodError):
    """An event cannot be counted. ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ProducerError(ForgoodError):
    """Publishing to Kafka failed."""


class StreamError(ForgoodError):
    """The stream worker failed."""


class PatchError(StreamError):
    """A patch to Faust, aiokafka or mode refuses to install: the library is not the version it
    was verified with, or the code it patches is missing or changed; the message names which."""


class SinkError(ForgoodError):
    """Writing to ClickHouse failed."""


class SinkUnavailable(SinkError):
    """ClickHouse did not answer or refused the batch for a passing reason; retry later."""

    retriable = True


class StackError(ForgoodError):
    """The local stack could not be started, stopped or reached; the message says how to fix it."""
