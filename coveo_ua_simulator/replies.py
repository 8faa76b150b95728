"""What the simulator's routes return: a request snapshot in, a reply description out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

TServer = Literal["api", "storage"]


@dataclass(frozen=True)
class SimRequest:
    """One HTTP request as the routes see it (headers still hold the real Authorization)."""

    server: TServer
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header's value, matched case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def param(self, name: str) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    """An HTTP answer to send.

    file: stream this file as the body (Content-Length is its size); send_bytes: stop after
    that many bytes of it and close the connection (a truncated download); drop: close the
    connection without answering at all.
    """

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None
    send_bytes: int | None = None
    drop: bool = False


def json_reply(status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
    """A JSON body with its content type."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return Reply(status, json.dumps(payload).encode(), all_headers)


def error_reply(status: int, message: str, type_: str, error_code: str | None = None) -> Reply:
    """Coveo's error shape: ``{"message", "type"}`` and sometimes ``errorCode``."""
    payload: dict[str, str] = {"message": message, "type": type_}
    if error_code is not None:
        payload["errorCode"] = error_code
    return json_reply(status, payload)


def xml_error(status: int, code: str, message: str) -> Reply:
    """An S3-style XML error, as a storage host answers."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Reply(status, body.encode(), {"Content-Type": "application/xml"})
