"""Shared fixtures: a simulator on free loopback ports, and DuckDB pipelines in tmp dirs.

pytest-xdist's controller imports this file too, but runs no test: dlt, the connector and
the helpers are imported inside the fixtures, so that the controller starts the workers
about a second sooner instead of importing them first.
"""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from dlt.pipeline.pipeline import Pipeline

    from coveo_ua_simulator import Simulator

# Property-based tests: a bounded, derandomized run by default (fast and repeatable in CI);
# HYPOTHESIS_PROFILE=thorough tries many more examples, COVEO_UA_HYPOTHESIS_EXAMPLES=n sets n.
settings.register_profile(
    "default",
    max_examples=int(os.environ.get("COVEO_UA_HYPOTHESIS_EXAMPLES", "60")),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=int(os.environ.get("COVEO_UA_HYPOTHESIS_EXAMPLES", "3000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _isolated_dlt_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the user's and the repository's dlt config and secrets out of the tests."""
    from helpers.pipelines import isolate_dlt_config

    isolate_dlt_config(monkeypatch, tmp_path)


@pytest.fixture
def start_simulator() -> Iterator[Callable[..., Simulator]]:
    """Start a simulator with config overrides; every one started is stopped at teardown."""
    from helpers import TOKEN

    from coveo_ua_simulator import Simulator, SimulatorConfig

    started: list[Simulator] = []

    def start(**overrides: Any) -> Simulator:
        config = replace(SimulatorConfig(token=TOKEN), **overrides)
        simulator = Simulator(config)
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def simulator(start_simulator: Callable[..., Simulator]) -> Simulator:
    return start_simulator()


@pytest.fixture
def make_pipeline(tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    """A DuckDB pipeline whose database and state live in tmp_path; the test process holds
    the database open (``helpers.open_database``), so no other process may load into it."""
    from helpers.open_database import databases_kept_open
    from helpers.pipelines import pipelines_in

    with databases_kept_open() as databases:
        yield pipelines_in(tmp_path, databases)


@pytest.fixture
def dlt_config(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Write .dlt/config.toml and secrets.toml in tmp_path and have dlt read them."""
    from helpers.cli import reload_dlt_project, write_dlt_config

    before: list[str] = []

    def configure(simulator: Simulator, **options: Any) -> Path:
        write_dlt_config(tmp_path, simulator, **options)
        before.append(reload_dlt_project(tmp_path))
        return tmp_path

    yield configure
    shutil.rmtree(tmp_path / ".dlt", ignore_errors=True)  # dlt may keep reading this folder
    if before:
        reload_dlt_project(Path(before[0]))


@pytest.fixture
def connected(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    """A simulator that the `coveo-ua` command reaches through the environment alone."""
    from helpers import TOKEN

    monkeypatch.setenv("COVEO_UA_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SOURCES__COVEO_UA__BASE_URL", simulator.api_root)
    monkeypatch.setenv("SOURCES__COVEO_UA__POLL_INTERVAL", "0.01")
    return simulator


@pytest.fixture(scope="module")
def module_simulator() -> Iterator[Simulator]:
    """One simulator for a whole module, for data loaded once and read by many tests."""
    from helpers import TOKEN

    from coveo_ua_simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig(token=TOKEN)) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def module_pipelines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Pipeline]]:
    """Make DuckDB pipelines that last for the module: load once, then only read.

    A test that changes what a module pipeline holds uses ``make_pipeline`` instead.
    """
    from helpers.open_database import databases_kept_open
    from helpers.pipelines import isolate_dlt_config, pipelines_in

    folder = tmp_path_factory.mktemp("module")
    with pytest.MonkeyPatch.context() as monkeypatch, databases_kept_open() as databases:
        isolate_dlt_config(monkeypatch, folder)
        yield pipelines_in(folder, databases)


@pytest.hookimpl
def pytest_collection_finish(session: pytest.Session) -> None:
    """Put what collection made (dlt, pyarrow and the other imports: about 120,000 objects
    that live as long as the process) out of the garbage collector's reach, so that each
    full collection walks only what the tests make."""
    gc.collect()
    gc.freeze()


@pytest.hookimpl
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker per core, and one more. A worker often waits (on a process
    it forked, a subprocess, a throttled download), and the extra worker uses that core
    meanwhile. ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    return len(os.sched_getaffinity(0)) + 1


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``xdist_group`` work again: pytest 9 keeps an item's id in ``_id``, and
    pytest-xdist 3.8 appends the ``@group`` of ``--dist loadgroup`` to ``_nodeid``, which
    pytest 9 no longer reads, so grouped tests would be spread over the workers (each then
    loading a module's shared data again): pytest-dev/pytest-xdist#1386, with the fix in
    pull request #1388. Remove once pytest-xdist sets ``_id``."""
    if not getattr(config.option, "loadgroup", False):  # set on xdist workers only
        return
    from _pytest.nodeid import NodeId

    for item in items:
        marks = item.iter_markers("xdist_group")
        names = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in marks}
        )
        if names and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")
