"""The CLI's failures: which error in a chain of dlt's wrappers explains the run, and a
Ctrl-C that always ends the command."""

from __future__ import annotations

import sys
import time

import pytest

from coveo_ua_source.cli.failures import root_cause
from coveo_ua_source.cli.interrupts import ctrl_c_kept
from coveo_ua_source.cli.main import _failed
from coveo_ua_source.exceptions import CoveoUAError


class _StepFailed(Exception):
    """Stands for dlt's PipelineStepFailed: it wraps what failed inside a step."""


def _wrapped(inner: BaseException) -> _StepFailed:
    try:
        try:
            raise inner
        except BaseException as error:
            raise _StepFailed("extract failed") from error
    except _StepFailed as step:
        return step


def _interrupt_while_handling(handled: Exception) -> KeyboardInterrupt:
    """A Ctrl-C that lands inside an ``except`` block of dlt (its __context__ is set)."""
    try:
        try:
            raise handled
        except ValueError:
            raise KeyboardInterrupt  # noqa: B904 (as a signal does, with the context kept)
    except KeyboardInterrupt as interrupt:
        return interrupt


def test_an_interrupt_landing_in_dlts_error_handling_is_the_root_cause() -> None:
    interrupt = _interrupt_while_handling(ValueError("Could not parse SQLAlchemy URL"))
    assert isinstance(interrupt.__context__, ValueError)
    assert root_cause(_wrapped(interrupt)) is interrupt


def test_it_exits_130_not_as_an_unexpected_error(capsys: pytest.CaptureFixture[str]) -> None:
    interrupt = _interrupt_while_handling(ValueError("Could not parse SQLAlchemy URL"))
    assert _failed(_wrapped(interrupt)) == 130  # type: ignore[arg-type]
    error = capsys.readouterr().err
    assert "interrupted" in error
    assert "SQLAlchemy" not in error


def test_the_connectors_own_error_is_found_inside_the_wrappers() -> None:
    own = CoveoUAError("the export failed: try again later")
    assert root_cause(_wrapped(own)) is own


class _FinalizerInterrupted:
    """Stands for an object whose ``__del__`` runs when the Ctrl-C signal lands."""

    def __del__(self) -> None:
        raise KeyboardInterrupt


def _let_signals_run(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # Python runs signal handlers between bytecodes
        time.sleep(0.001)


def test_a_ctrl_c_dropped_by_a_finalizer_is_raised_again() -> None:
    def drop_an_interrupt_in_a_finalizer() -> None:
        with ctrl_c_kept():
            _FinalizerInterrupted()  # dropped at once: its __del__ raises, Python drops it
            _let_signals_run(10.0)  # ended by the interrupt delivered again

    with pytest.raises(KeyboardInterrupt):
        drop_an_interrupt_in_a_finalizer()


def test_without_it_python_drops_the_interrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    dropped: list[type[BaseException]] = []
    monkeypatch.setattr(
        sys, "unraisablehook", lambda unraisable: dropped.append(unraisable.exc_type)
    )
    _FinalizerInterrupted()
    _let_signals_run(0.2)
    assert dropped == [KeyboardInterrupt], "the case ctrl_c_kept exists for"
