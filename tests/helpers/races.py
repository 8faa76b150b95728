"""Runs that race: scheduler tasks started as real processes at random offsets, each on
a "machine" of its own (its own dlt data folder), loading into one dataset.

``race`` starts the jobs, waits for all of them and returns their exit codes and error
output; the test then compares every table with the ground truth.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coveo_ua_simulator import Simulator
from helpers import TOKEN, forked


@dataclass(frozen=True)
class Job:
    """One task: an incremental run of ``pipeline`` up to ``end``, or a partition."""

    kind: str  # "incremental" or "partition"
    end: str
    start: str | None = None  # partitions only
    pipeline: str = "coveo_ua"
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind}-{self.pipeline}-{self.start or ''}-{self.end}"


@dataclass(frozen=True)
class Raced:
    """How each job ended: its exit code and what it wrote on stderr."""

    codes: list[int]
    errors: list[str]

    def failures(self) -> list[str]:
        return [error for code, error in zip(self.codes, self.errors, strict=True) if code]


def race(
    jobs: Sequence[Job],
    *,
    seed: int,
    simulator: Simulator,
    destination: str,
    dataset: str,
    folder: Path,
    environment: Mapping[str, str],
    spread: float = 1.5,
) -> Raced:
    """Start every job at once, each sleeping a random offset in ``[0, spread)`` first."""
    offsets = random.Random(seed).sample(range(int(spread * 1000)), len(jobs))
    started = []
    for number, (job, offset) in enumerate(zip(jobs, offsets, strict=True)):
        machine = folder / f"machine-{number}"
        machine.mkdir(parents=True)
        order = {
            "kind": job.kind, "start": job.start, "end": job.end, "pipeline": job.pipeline,
            "options": dict(job.options), "delay": offset / 1000, "destination": destination,
            "dataset": dataset,
        }  # fmt: skip
        env = {
            **os.environ, **environment,
            "SOURCES__COVEO_UA__ACCESS_TOKEN": TOKEN,
            "SOURCES__COVEO_UA__BASE_URL": simulator.api_root,
            "SOURCES__COVEO_UA__START_DATE": "2024-03-01",
            "SOURCES__COVEO_UA__POLL_INTERVAL": "0.05",
            "DLT_DATA_DIR": str(machine / "dlt"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }  # fmt: skip
        process = forked.start(
            "helpers.targets:orchestrated", [json.dumps(order)], environment=env, cwd=machine,
            stdout=machine / "out", stderr=machine / "err",
        )  # fmt: skip
        started.append((process, machine))
    codes = [process.wait(timeout=240) for process, _ in started]
    errors = [(machine / "err").read_text() for _, machine in started]
    return Raced(codes, errors)


def live_exports(simulator: Simulator) -> list[str]:
    """The exports still on the service (neither deleted nor expired by the service)."""
    return [export.id for export in simulator.exports.values() if not export.deleted]
