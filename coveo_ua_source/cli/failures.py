"""What the `coveo-ua` command prints when a command fails: one line, the fix included.

dlt's own errors keep their hints (``pip install ...``, the keys it looked up) in a line
or two instead of its full lookup trace.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from coveo_ua_source.dlt_internals import (
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
    LookupTraces,
    MissingDependencyException,
)
from coveo_ua_source.exceptions import CoveoUAError

# Errors that tell the user what to do themselves: the unwrapping stops at them.
SELF_EXPLAINING: tuple[type[BaseException], ...] = (
    # a Ctrl-C that landed while dlt handled an error of its own (its __context__): the
    # interrupt is what ended the run, not that error
    KeyboardInterrupt,
    CoveoUAError,
    ConfigFieldMissingException,
    ConfigValueCannotBeCoercedException,
    MissingDependencyException,
)


def root_cause(error: BaseException) -> BaseException:
    """The first error that explains itself inside dlt's wrappers, or the innermost."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        if isinstance(current, SELF_EXPLAINING):
            return current
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen[-1]


def failure_text(cause: BaseException) -> str:
    """The message of ``cause`` for a terminal: one line, two at most."""
    if isinstance(cause, ConfigFieldMissingException):
        return missing_settings_text(cause.traces)
    if isinstance(cause, ConfigValueCannotBeCoercedException):
        return bad_value_text(cause.field_name, cause.field_value, cause.hint)
    if isinstance(cause, MissingDependencyException):
        return f"{cause.caller} needs more packages: {cause._to_pip_install()}"
    return str(cause).strip()


def bad_value_text(name: str, value: Any, hint: Any) -> str:
    """A setting whose text is not of its type; a list is the usual case."""
    wanted = getattr(hint, "__name__", str(hint))
    if wanted in {"Sequence", "list", "List", "tuple"}:
        return (
            f"setting {name} = {value!r} is not a list: in .dlt/config.toml write "
            f'{name} = ["a", "b"]; in the environment a JSON list, e.g. \'["a", "b"]\''
        )
    return f"setting {name} = {value!r} is not a valid {wanted}: fix it where it is set"


def missing_settings_text(traces: Mapping[str, Any]) -> str:
    keys = sorted(set(_missing_keys(traces)))
    shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
    environment = keys[0].upper().replace(".", "__") if keys else ""
    return (
        f"missing setting(s): {shown}; put them in .dlt/secrets.toml (e.g. "
        f"[{keys[0].rsplit('.', 1)[0]}]) or the environment (e.g. {environment})"
        if keys
        else "missing settings (dlt found no value for a required field)"
    )


def _missing_keys(traces: Mapping[str, Any]) -> Iterator[str]:
    """The dotted TOML key of every missing leaf field, in its most specific section."""
    for field, field_traces in traces.items():
        nested = [trace for trace in field_traces if isinstance(trace, LookupTraces)]
        if nested:
            for trace in nested:
                yield from _missing_keys(trace.traces)
            continue
        sections = [list(trace.sections) for trace in field_traces if hasattr(trace, "sections")]
        yield ".".join([*max(sections, key=len, default=[]), field])
