"""The local stack: a tansu Kafka broker and a ClickHouse server for development and tests.

``up`` starts them as detached processes bound to loopback, ``down`` stops them, ``status``
reports them; all files live under ``<state_dir>/stack``. See :mod:`stack.local`.
"""

from .local import down, services, status, up
from .service import ServiceStatus

__all__ = ["ServiceStatus", "down", "services", "status", "up"]
