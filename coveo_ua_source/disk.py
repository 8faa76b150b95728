"""A full disk, said plainly: which folder, how much is free, and what would help.

``No space left on device`` alone names neither the folder nor the space a run needs.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from coveo_ua_source.exceptions import DiskFullError


def full_disk(error: BaseException | None) -> OSError | None:
    """The "no space left" error in ``error``'s chain of causes, if any."""
    while error is not None:
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return error
        error = error.__cause__ or error.__context__
    return None


def disk_full_error(error: OSError, folder: Path | str, needed: int | None = None) -> DiskFullError:
    """``DiskFullError`` naming the folder written (the error's file's, else ``folder``),
    the space free there and, when known, the space needed."""
    where = Path(error.filename).parent if error.filename else Path(folder)
    free = _free_bytes(where)
    need = f"; this needs about {_size(needed)}" if needed else ""
    return DiskFullError(
        f"no space left on the disk of {where} ({_size(free)} free{need}): free space there, "
        "or point the pipelines folder (--pipelines-dir, DLT_DATA_DIR) or workdir at a "
        "larger disk"
    )


def _free_bytes(folder: Path) -> int:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return 0


def _size(count: int | None) -> str:
    value = float(count or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
