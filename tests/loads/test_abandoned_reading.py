"""A run that stops reading early keeps its exit code.

pyarrow's streaming CSV reader reads its input (a Python object over the zip member) on a
thread of its own, ahead of the batches taken; one still reading when the interpreter
exits aborts the process (SIGABRT, exit code 134) instead of the run's own exit code.
Each case runs in a process of its own, a few times: the abort depends on timing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers.zips import make_zip

_LEFT_EARLY = """
import sys
import threading
from pathlib import Path

from coveo_ua_source.ingest.archive import read_table
from coveo_ua_source.ingest.background import Background, work_slots

path, how = Path(sys.argv[1]), sys.argv[2]
if how == "generator":  # the first batch taken, then the reading closed, as on an error
    batches = read_table(path, "searches")
    next(batches)
    batches.close()
else:  # a reading thread still at work when the main thread ends
    started = threading.Event()

    def work(check):
        rows = 0
        for batch in read_table(path, "searches", block_size=64 << 10):
            started.set()
            rows += batch.num_rows
        return rows

    Background(work, work_slots(1))
    started.wait()
sys.exit(3)
"""


@pytest.fixture(scope="module")
def long_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    body = "".join(f"s{i},query {i},2024-01-01T00:00:00Z\n" for i in range(300_000))
    folder = tmp_path_factory.mktemp("long_export")
    return make_zip(folder, {"searches.csv": "searchId,queryExpression,datetime\n" + body})


@pytest.mark.parametrize("how", ["generator", "thread"])
def test_reading_left_early_exits_with_the_runs_own_code(long_export: Path, how: str) -> None:
    for _ in range(5):
        ran = subprocess.run(
            [sys.executable, "-c", _LEFT_EARLY, str(long_export), how],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert "Fatal Python error" not in ran.stderr, ran.stderr
        assert ran.returncode == 3, ran.stderr
