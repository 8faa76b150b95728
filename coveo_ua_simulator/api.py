"""The API host: ``/rest/ua/v15/...`` routes, authentication and the export lifecycle.

Order of checks on every request: injected HTTP faults, then the token (401), the ``org``
parameter when the org id is configured (403), the privilege (403 for a view-only token on
anything but GET), then the route (404 unknown path, 405 wrong method).

Choices where Coveo's behaviour is unknown:
- every GET of an export (info, ``?redirect=true``, ``/downloadlink``) counts as a poll;
- ``?redirect=true`` on an export that is not AVAILABLE answers 400 with errorCode
  ``EXPORT_NOT_AVAILABLE`` and the status in the message;
- ``/v15/exports/estimate`` keys each table by its name as sent, upper-cased (which is
  always the API name, ``SEARCHES``...) and applies the same validation as a create, but
  not the row limit;
- the row limit applies to each table of an export separately.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from coveo_ua_simulator import params
from coveo_ua_simulator.config import SimulatorConfig
from coveo_ua_simulator.dimensions import dimension_types, sim_columns
from coveo_ua_simulator.faults import CREATE_FAULTS, HTTP_FAULTS, Fault, FaultQueue
from coveo_ua_simulator.faults import http_fault_reply as fault_reply
from coveo_ua_simulator.replies import Reply, SimRequest, error_reply, json_reply
from coveo_ua_simulator.schedules import ScheduleStore
from coveo_ua_simulator.state import ExportStore, SimExport
from coveo_ua_simulator.truth import count_rows, to_ms, visible_span
from coveo_ua_source.schema import API_TABLE_NAMES, TABLES

API_PREFIX = "/rest/ua"
_PLAIN_CREATE_FAULTS = CREATE_FAULTS - {"row_limit", "same_export", "fail_window"}
_TYPES = {"text": "TEXT", "bigint": "NUMBER", "double": "NUMBER", "bool": "BOOLEAN"}
_EVENT_TYPES = {"clicks": "CLICK", "custom_events": "CUSTOM_EVENT"}
_ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(p), methods)
    for p, methods in (
        (r"/v15/exports/status", {"GET": "_status"}),
        (r"/v15/exports/rowLimit", {"GET": "_row_limit"}),
        (r"/v15/exports/estimate", {"GET": "_estimate"}),
        (r"/v15/dimensions/exportables", {"GET": "_exportables"}),
        (r"/v15/exports", {"GET": "_list", "POST": "_create_from_query"}),
        (r"/v15/exports/create", {"POST": "_create_from_json"}),
        (r"/v15/exports/(?P<export_id>[^/]+)/downloadlink", {"GET": "_download_link"}),
        (r"/v15/exports/(?P<export_id>[^/]+)", {"GET": "_get", "DELETE": "_delete"}),
    )
]


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _bad_parameter(message: str, code: str = "INVALID_PARAMETER") -> Reply:
    return error_reply(400, message, "InvalidParameter", code)


def _not_found(export_id: str) -> Reply:
    return error_reply(404, f"The export {export_id} does not exist.", "NotFoundException")


class ApiApp:
    """Answers API requests; ``link_for`` gives an export's pre-signed download URL."""

    def __init__(
        self,
        cfg: SimulatorConfig,
        store: ExportStore,
        faults: FaultQueue,
        link_for: Callable[[str], str],
    ) -> None:
        self._cfg, self._store, self._faults, self._link_for = cfg, store, faults, link_for
        self._schedules = ScheduleStore()
        self._exportables_calls = 0

    def __call__(self, req: SimRequest) -> Reply:
        fault = self._faults.take(HTTP_FAULTS, "api", req.method, req.path)
        if fault is not None:
            return fault_reply(fault, req)
        denied = self._authorize(req)
        if denied is not None:
            return denied
        path = req.path.rstrip("/")
        if not path.startswith(API_PREFIX + "/"):
            return error_reply(404, f"No route for {req.path}.", "NotFoundException")
        return self._route(req, path[len(API_PREFIX) :])

    def _authorize(self, req: SimRequest) -> Reply | None:
        scheme, _, token = (req.header("Authorization") or "").partition(" ")
        full = hmac.compare_digest(token.strip(), self._cfg.token)
        view = self._cfg.view_only_token
        view_only = view is not None and hmac.compare_digest(token.strip(), view)
        if scheme.lower() != "bearer" or not (full or view_only):
            return error_reply(401, "Invalid token", "InvalidTokenException")
        if self._cfg.org_id is not None and req.param("org") != self._cfg.org_id:
            message = f"The 'org' parameter must name the organization ({self._cfg.org_id})."
            return error_reply(403, message, "ForbiddenException")
        if view_only and not full and req.method != "GET":
            message = "The token lacks the privilege 'Analytics - Data exports - Edit'."
            return error_reply(403, message, "AccessDeniedException")
        return None

    def _route(self, req: SimRequest, path: str) -> Reply:
        if path.startswith("/v15/exports/schedules"):
            return self._schedules.handle(req, path[len("/v15/exports/schedules") :])
        for pattern, methods in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            name = methods.get(req.method)
            if name is None:
                return error_reply(405, "Method not allowed.", "MethodNotAllowedException")
            handler: Callable[..., Reply] = getattr(self, name)
            return handler(req, **match.groupdict())
        return error_reply(404, f"No route for {req.path}.", "NotFoundException")

    def _status(self, _req: SimRequest) -> Reply:
        return json_reply(200, {"status": "online"})

    def _row_limit(self, _req: SimRequest) -> Reply:
        return json_reply(200, {"exportRowCountLimit": self._cfg.row_limit})

    def _exportables(self, _req: SimRequest) -> Reply:
        """Every column; custom ones typed as the simulated org says (retyped after call 1)."""
        self._exportables_calls += 1
        retyped = self._cfg.retyped_dimensions if self._exportables_calls > 1 else ()
        custom = dimension_types(retyped)
        dimensions = [
            {
                "displayName": column.display_name,
                "returnName": f"{table}.{column.api_name.lower()}",
                "type": custom.get(
                    f"{table}.{column.api_name.lower()}", _TYPES.get(column.type, "DATETIME")
                ),
                "custom": column.api_name.startswith("c_"),
                "eventTypes": [_EVENT_TYPES.get(table, "SEARCH")],
            }
            for table in TABLES
            for column in sim_columns(table)
        ]
        return json_reply(200, dimensions)

    def _estimate(self, req: SimRequest) -> Reply:
        try:
            request = params.from_query(req.query)
        except params.ParamError as exc:
            return _bad_parameter(str(exc))
        factor = self._cfg.estimate_factor
        estimates = {
            API_TABLE_NAMES[table]: round(
                count_rows(self._cfg, table, visible_span(self._cfg, request.span), request.filters)
                * factor
            )
            for table in request.tables
        }
        return json_reply(200, {"estimates": estimates})

    def _create_from_query(self, req: SimRequest) -> Reply:
        try:
            request = params.from_query(req.query)
        except params.ParamError as exc:
            return _bad_parameter(str(exc))
        return self._create(req, request, {k: list(v) for k, v in req.query.items()})

    def _create_from_json(self, req: SimRequest) -> Reply:
        try:
            request = params.from_json(req.body)
        except params.ParamError as exc:
            return _bad_parameter(str(exc))
        return self._create(req, request, json.loads(req.body or b"{}"))

    def _take(self, kind: str, req: SimRequest) -> dict[str, object] | None:
        fault = self._faults.take({kind}, "api", req.method, req.path)
        return None if fault is None else fault.options

    def _create(self, req: SimRequest, request: params.ExportRequest, raw: dict[str, Any]) -> Reply:
        limit = self._cfg.row_limit
        forced = self._take("row_limit", req) is not None
        span = visible_span(self._cfg, request.span)
        counts = [count_rows(self._cfg, t, span, request.filters) for t in request.tables]
        biggest = max(counts, default=0)
        if forced or biggest > limit:
            rows = max(biggest, limit + 1)
            message = (
                f"The export would contain {rows} rows, which exceeds the row limit of "
                f"{limit} rows of this organization. Reduce the date range."
            )
            return _bad_parameter(message, "ROW_LIMIT_EXCEEDED")
        previous = self._store.latest()
        if previous is not None and self._take("same_export", req) is not None:
            return json_reply(201, self._describe(previous))  # a service that lies
        flags = {kind: self._take(kind, req) for kind in _PLAIN_CREATE_FAULTS}
        slow, wide = flags["slow"], flags["wide"]
        export = self._store.create(
            request, raw,
            fail=flags["fail"] is not None or self._in_failing_window(req, request),
            expire_on_download=flags["expire"] is not None,
            extra_delay=0.0 if slow is None else float(str(slow.get("seconds", 1.0))),
            leading_hours=0.0 if wide is None else float(str(wide.get("hours", 1.0))),
        )  # fmt: skip
        return json_reply(201, self._describe(export))

    def _in_failing_window(self, req: SimRequest, request: params.ExportRequest) -> bool:
        """Whether a "fail_window" fault covers part of the export's window."""
        start, end = request.span

        def overlaps(fault: Fault) -> bool:
            low, high = (to_ms(_utc(str(fault.options[k]))) for k in ("start", "end"))
            return start < high and low < end

        fault = self._faults.take({"fail_window"}, "api", req.method, req.path, overlaps)
        return fault is not None

    def _describe(self, export: SimExport) -> dict[str, Any]:
        request = export.request
        body: dict[str, Any] = {
            "id": export.id,
            "author": export.author,
            "startDate": export.start_date_ms,
            "from": request.start_ms,
            "to": request.end_ms,
            "filters": request.filters.as_map(),
            "description": request.description,
            "size": export.size,
            "status": export.status,
            "tables": [API_TABLE_NAMES[table] for table in request.tables],
            "downloadable": export.status == "AVAILABLE",
            "dimensions": list(request.dimensions),
            "replayable": False,
            "usingDisplayNames": request.use_display_names,
            "scheduleId": None,
        }
        if export.status == "AVAILABLE":
            body["downloadLink"] = self._link_for(export.id)
        return body

    def _list(self, _req: SimRequest) -> Reply:
        return json_reply(200, [self._describe(export) for export in self._store.listing()])

    def _get(self, req: SimRequest, export_id: str) -> Reply:
        export = self._store.find(export_id)
        if export is None:
            return _not_found(export_id)
        status = self._store.poll(export)
        if (req.param("redirect") or "").lower() != "true":
            return json_reply(200, self._describe(export))
        if status == "AVAILABLE":
            return Reply(303, headers={"Location": self._link_for(export.id)})
        message = f"The export {export_id} is not available for download: its status is {status}."
        return _bad_parameter(message, "EXPORT_NOT_AVAILABLE")

    def _download_link(self, _req: SimRequest, export_id: str) -> Reply:
        export = self._store.find(export_id)
        if export is None:
            return _not_found(export_id)
        ready = self._store.poll(export) == "AVAILABLE"
        return json_reply(
            200, {"id": export_id, "downloadLink": self._link_for(export_id) if ready else None}
        )

    def _delete(self, _req: SimRequest, export_id: str) -> Reply:
        return Reply(204) if self._store.delete(export_id) else _not_found(export_id)
