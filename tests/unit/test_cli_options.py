"""The command line's options as parsed, before any command runs."""

from __future__ import annotations

import argparse

import pytest

from coveo_ua_source.cli.main import _parser


@pytest.mark.parametrize("given", ["NO_NEWLINE", "no_newline", " No_NewLine "])
def test_export_format_is_taken_in_any_case_like_the_source_takes_it(given: str) -> None:
    args = _parser().parse_args(["load", "--export-format", given])
    assert args.export_format == "NO_NEWLINE"


def test_an_unknown_export_format_is_refused_with_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as refused:
        _parser().parse_args(["load", "--export-format", "tsv"])
    assert refused.value.code == 2
    assert "choose from 'EXCEL', 'NO_NEWLINE'" in capsys.readouterr().err


def _flags_without_help(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in parser._actions:  # argparse keeps no public list of its actions
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _flags_without_help(sub, f"{path} {name}")
        elif not action.help and action.dest != "help":
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_flag_of_every_command_has_help() -> None:
    from coveo_ua_simulator.__main__ import _parser as simulator_parser

    assert _flags_without_help(_parser(), "coveo-ua") == []
    assert _flags_without_help(simulator_parser(), "coveo-ua-simulator") == []
