"""Recurring export schedules: kept in memory, validated lightly, never run.

``GET/POST /v15/exports/schedules``, ``GET/PUT/DELETE /v15/exports/schedules/{id}`` and
``GET /v15/exports/schedules/{id}/exports`` (always an empty list: the simulator does not
run schedules).
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from coveo_ua_simulator.replies import Reply, SimRequest, error_reply, json_reply

_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY")


class ScheduleStore:
    """Schedules by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schedules: dict[str, dict[str, Any]] = {}

    def handle(self, req: SimRequest, rest: str) -> Reply:
        """Answer a request whose path is ``/v15/exports/schedules`` + ``rest``."""
        parts = [part for part in rest.split("/") if part]
        if not parts:
            if req.method == "GET":
                with self._lock:
                    return json_reply(200, list(self._schedules.values()))
            return self._save(req, str(uuid.uuid4()), 201) if req.method == "POST" else _bad()
        with self._lock:
            known = parts[0] in self._schedules
        if not known:
            return error_reply(404, f"The schedule {parts[0]} does not exist.", "NotFoundException")
        if parts[1:] == ["exports"] and req.method == "GET":
            return json_reply(200, [])
        if len(parts) > 1:
            return error_reply(404, "Not found.", "NotFoundException")
        return self._one(req, parts[0])

    def _one(self, req: SimRequest, schedule_id: str) -> Reply:
        if req.method == "GET":
            with self._lock:
                return json_reply(200, self._schedules[schedule_id])
        if req.method == "PUT":
            return self._save(req, schedule_id, 200)
        if req.method == "DELETE":
            with self._lock:
                self._schedules.pop(schedule_id, None)
            return Reply(204)
        return _bad()

    def _save(self, req: SimRequest, schedule_id: str, status: int) -> Reply:
        try:
            body = json.loads(req.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or body.get("frequency") not in _FREQUENCIES:
            return error_reply(
                400, "A schedule needs a frequency: DAILY, WEEKLY or MONTHLY.",
                "InvalidParameter", "INVALID_PARAMETER",
            )  # fmt: skip
        schedule = {**body, "id": schedule_id}
        with self._lock:
            self._schedules[schedule_id] = schedule
        return json_reply(status, schedule)


def _bad() -> Reply:
    return error_reply(405, "Method not allowed.", "MethodNotAllowedException")
