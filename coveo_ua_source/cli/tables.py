"""Tables as the CLI prints them: boxed on a terminal, plain aligned columns when piped
(no box characters for ``grep``, ``awk`` or a log file)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table


def titled_table(console: Console, title: str) -> Table:
    """An empty table with its title on the left, boxed only on a terminal."""
    return Table(
        title=title,
        title_justify="left",
        box=box.HEAVY_HEAD if console.is_terminal else None,
    )
