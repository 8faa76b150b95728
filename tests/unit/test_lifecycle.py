"""An export across runs (exports/lifecycle.py) with a stub client: no server, no dlt."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from helpers import utc
from helpers.stub_client import API_ROOT, StubClient, export_info

from coveo_ua_source.api.models import ExportInfo
from coveo_ua_source.dates import Window
from coveo_ua_source.exceptions import CoveoAPIError
from coveo_ua_source.exports.lifecycle import (
    DescribedExport,
    ExportBook,
    ExportIdentity,
    delete_loaded,
    parse_description,
    scope_of,
)
from coveo_ua_source.exports.types import ExportRequest
from coveo_ua_source.exports.windows import PlannedExport

DAY = Window(utc(2024, 3, 1), utc(2024, 3, 2))
NEXT = Window(utc(2024, 3, 2), utc(2024, 3, 3))
MINE = ExportIdentity.of(API_ROOT, "coveo_ua", ExportRequest())


def export(export_id: str, description: str, status: str = "AVAILABLE") -> ExportInfo:
    return export_info(export_id, description, status)


def book(*exports: ExportInfo, identity: ExportIdentity = MINE) -> tuple[ExportBook, StubClient]:
    client = StubClient(list(exports))
    return ExportBook(client, identity), client  # type: ignore[arg-type]


def test_a_description_says_whose_export_it_is_and_what_it_holds() -> None:
    planned = PlannedExport(DAY, ("searches", "clicks"))
    text = MINE.describe(planned)
    assert text.startswith("coveo-ua-source scope=")
    assert "from=2024-03-01T00:00:00.000Z to=2024-03-02T00:00:00.000Z" in text
    assert parse_description(text) == DescribedExport(
        MINE.scope, MINE.params, DAY, ("searches", "clicks")
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(None, id="none"),
        pytest.param("march 1st", id="a user's export"),
        pytest.param("coveo-ua-source abc123 [2024-03-01, 2024-03-02) searches", id="old form"),
        pytest.param(
            "coveo-ua-source scope=a params=b from=never to=2024-03-02 tables=clicks",
            id="bad date",
        ),
    ],
)
def test_other_descriptions_are_not_ours(text: str | None) -> None:
    assert parse_description(text) is None


def test_identity_tells_pipelines_and_parameters_apart() -> None:
    other_pipeline = ExportIdentity.of(API_ROOT, "coveo_ua_2", ExportRequest())
    other_filters = ExportIdentity.of(API_ROOT, "coveo_ua", ExportRequest(("a",)))
    assert other_pipeline.scope != MINE.scope
    assert other_filters.scope == MINE.scope, "same pipeline: its old exports get cleaned up"
    assert other_filters.params != MINE.params


def test_find_reattaches_to_a_usable_export_of_exactly_the_window() -> None:
    planned = PlannedExport(DAY, ("searches",))
    failed = export("failed", MINE.describe(planned), "FAILED")
    other_tables = export("other", MINE.describe(PlannedExport(DAY, ("clicks",))))
    pending = export("pending", MINE.describe(planned), "PENDING")
    exports, client = book(failed, other_tables, pending)
    assert exports.find(planned) == pending
    exports.forget("pending")
    assert exports.find(planned) is None, "a forgotten export is never reattached"
    assert client.listings == 1, "the org's exports are listed once per run"


def test_an_export_of_a_window_loaded_already_is_never_reattached() -> None:
    """A window loaded again (a lookback, a repair) is exported afresh: the export of its
    earlier load holds rows as they were then."""
    planned = PlannedExport(DAY, ("searches",))
    exports, _ = book(export("used", MINE.describe(planned)))
    exports.treat_as_loaded({"searches": DAY.end})
    assert exports.find(planned) is None
    exports.treat_as_loaded({"searches": DAY.start})
    assert exports.find(planned) is not None, "a window not loaded yet reattaches"
    exports.treat_as_loaded(None)  # partition mode: no state says what is loaded
    assert exports.find(planned) is not None


def test_settle_deletes_this_scopes_loaded_exports_twins_and_old_parameters_only() -> None:
    both = ("searches", "clicks")
    loaded = MINE.describe(PlannedExport(DAY, both))
    old_params = ExportIdentity(MINE.scope, "0ldparams000").describe(PlannedExport(DAY, both))
    other_scope = ExportIdentity("0therscope00", MINE.params).describe(PlannedExport(DAY, both))
    exports, client = book(
        export("used", loaded),
        export("twin", loaded),
        export("old", old_params),
        export("theirs", other_scope),
        export("next", MINE.describe(PlannedExport(NEXT, both))),
        export("user", "march 1st"),
    )
    positions: dict[str, datetime | None] = {"searches": NEXT.end, "clicks": DAY.end}
    assert sorted(exports.settle(positions)) == ["old", "twin", "used"]
    assert sorted(client.exports) == ["next", "theirs", "user"]
    assert exports.find(PlannedExport(DAY, both)) is None, "deleted ones are not reattached"


def test_settle_waits_until_every_table_of_the_export_is_loaded() -> None:
    exports, client = book(
        export("used", MINE.describe(PlannedExport(DAY, ("searches", "groups"))))
    )
    assert exports.settle({"searches": DAY.end, "groups": DAY.end - timedelta(hours=1)}) == []
    assert exports.settle({"searches": DAY.end, "groups": None}) == []
    assert client.deleted == []


def test_a_failed_listing_reattaches_and_deletes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    client = StubClient([], listing_fails=True)
    exports = ExportBook(client, MINE)  # type: ignore[arg-type]
    assert exports.find(PlannedExport(DAY, ("searches",))) is None
    assert exports.settle({"searches": NEXT.end}) == []
    assert "could not list exports" in caplog.text


def test_deleting_an_export_already_gone_is_quiet() -> None:
    exports, client = book()
    exports.delete("gone")
    assert client.deleted == []


def test_delete_loaded_cleans_up_a_pipelines_exports_whatever_their_parameters() -> None:
    """After a committed load, with no run's identity at hand (only the pipeline's name)."""
    both = ("searches", "clicks")
    old_params = ExportIdentity(MINE.scope, "0ldparams000")
    other_pipeline = ExportIdentity(scope_of(API_ROOT, "coveo_ua_2"), MINE.params)
    client = StubClient(
        [
            export("used", MINE.describe(PlannedExport(DAY, both))),
            export("old", old_params.describe(PlannedExport(DAY, both))),
            export("theirs", other_pipeline.describe(PlannedExport(DAY, both))),
            export("ahead", MINE.describe(PlannedExport(NEXT, both))),
        ]
    )
    positions: dict[str, datetime | None] = {"searches": DAY.end, "clicks": DAY.end}
    deleted = delete_loaded(client, "coveo_ua", positions)  # type: ignore[arg-type]
    assert sorted(deleted) == ["old", "used"]
    assert sorted(client.exports) == ["ahead", "theirs"]


def test_the_scope_is_the_api_root_and_the_pipeline_name() -> None:
    assert scope_of(API_ROOT, "coveo_ua") == MINE.scope
    assert scope_of(API_ROOT, "coveo_ua") != scope_of("https://other/rest/ua", "coveo_ua")
    assert len(MINE.scope) == 12


def test_a_failed_delete_is_logged_and_the_export_is_not_reattached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    planned = PlannedExport(DAY, ("searches",))
    exports, client = book(export("kept", MINE.describe(planned)))

    def refuse(export_id: str) -> None:
        raise CoveoAPIError(503, "DELETE", f"/v15/exports/{export_id}", "try later")

    client.delete_export = refuse  # type: ignore[method-assign]
    exports.delete("kept")
    assert "could not delete export kept" in caplog.text
    assert "it expires by itself" in caplog.text
    assert exports.find(planned) is None
