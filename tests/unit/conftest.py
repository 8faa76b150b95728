"""Unit tests run without network, processes or databases: each such call fails here."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import duckdb
import pytest


class NotInAUnitTest(AssertionError):
    """A unit test reached for the network, a process or a database."""


def _refuse(what: str) -> Any:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise NotInAUnitTest(f"{what} in a unit test: move the test out of tests/unit")

    return refused


@pytest.fixture(autouse=True)
def _no_outside_world(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse("a network connection"))
    monkeypatch.setattr(socket.socket, "bind", _refuse("a listening socket"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("a process"))
    monkeypatch.setattr(duckdb, "connect", _refuse("a database"))
