"""The local stack: Apache Kafka, ClickHouse, Prometheus and Alertmanager on loopback.

``up`` starts them as detached processes bound to loopback, ``down`` stops them (data kept),
``status`` reports them, ``reset`` stops them and deletes their data; all files live under
``<state_dir>/stack``. See :mod:`forgood.stack.local`.
"""

from .local import down, reset, services, status, up
from .service import ServiceStatus

__all__ = ["ServiceStatus", "down", "reset", "services", "status", "up"]
