"""The plan inputs of the plan tests: three days from 2024-03-01, searches and clicks read."""

from __future__ import annotations

from datetime import timedelta

from coveo_ua_source.arguments import WindowRange
from coveo_ua_source.exports.types import ExportRequest
from coveo_ua_source.runs.plan import PlanInputs
from coveo_ua_source.schema import TABLES
from helpers import utc

START = utc(2024, 3, 1)
DAY = timedelta(days=1)
WINDOWS = WindowRange(
    start=START,
    end=START + 3 * DAY,
    window=DAY,
    lookback=timedelta(0),
    tables=TABLES,
    settle_delay=timedelta(hours=4),
    max_exports=10,
)
BOTH = frozenset({"searches", "clicks"})
INPUTS = PlanInputs(WINDOWS, ExportRequest(), BOTH, START + 3 * DAY, partition=False)
