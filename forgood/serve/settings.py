"""Settings of ``forgood serve``: where the counter service listens.

Kafka and ClickHouse come from the main :class:`forgood.domain.settings.Settings`; only the
service's own address is read here, from ``FORGOOD_SERVE_HOST`` / ``FORGOOD_SERVE_PORT``
(a frozen object read once, like the main settings; an invalid value stops the process at
start with the variable's name).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    """Address of the counter service; immutable once read."""

    model_config = SettingsConfigDict(env_prefix="FORGOOD_SERVE_", frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Address `forgood serve` binds (0.0.0.0 in containers).")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port of `forgood serve` (0 = any free port).")

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


@lru_cache(maxsize=1)
def get_serve_settings() -> ServeSettings:
    """Read the environment once per process and return the same frozen object after."""
    return ServeSettings()
