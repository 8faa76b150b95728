"""The command line's options as parsed, before any command runs."""

from __future__ import annotations

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
