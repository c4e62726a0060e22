"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.chdb_client import MISSING, ChdbClient


@pytest.fixture(scope="module")
def chdb_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbClient]:
    """A current ClickHouse in-process (chdb), one per test module, in a fresh directory. A
    failure, never a skip, when chdb is missing: CI must not pass without the current ClickHouse."""
    try:
        client = ChdbClient(tmp_path_factory.mktemp("chdb"))
    except ImportError:
        client = None
    if client is None:
        pytest.fail(MISSING, pytrace=False)
    yield client
    client.close()
