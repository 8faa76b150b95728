"""A local simulator of the Coveo Usage Analytics exports API, for demos, tests and benchmarks.

::

    from coveo_ua_simulator import Simulator, SimulatorConfig, ground_truth

    with Simulator(SimulatorConfig(seed=7)) as sim:
        sim.api_root          # http://127.0.0.1:<port>/rest/ua, token sim.config.token
        sim.inject("429", count=2, retry_after=1, path=r"/v15/exports$", method="POST")

Rows are a pure function of (seed, UTC hour), so ``ground_truth`` gives exactly what a
correct connector loads for any window, and ``write_export_zip`` writes an export zip
without a server (benchmarks). Modules: ``data`` (row generation), ``truth`` (ranges,
counts, ground truth), ``csvwriter`` (zips), ``api``/``storage``/``server`` (HTTP),
``faults`` (injected failures), ``state`` (exports and request log).
"""

from coveo_ua_simulator.config import SimulatorConfig
from coveo_ua_simulator.csvwriter import write_export_zip
from coveo_ua_simulator.filters import ExportFilters
from coveo_ua_simulator.server import Simulator
from coveo_ua_simulator.state import RequestRecord, SimExport
from coveo_ua_simulator.truth import ground_truth

__all__ = [
    "ExportFilters",
    "RequestRecord",
    "SimExport",
    "Simulator",
    "SimulatorConfig",
    "ground_truth",
    "write_export_zip",
]
