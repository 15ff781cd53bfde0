"""The one progress bar every long job shows: tqdm on stderr, or none when quiet."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(
    total: float | None, unit: str, desc: str, *, quiet: bool = False, leave: bool = True
) -> Any:
    """A tqdm bar on stderr (None when `quiet`: --json, a worker, a test)."""
    if quiet:
        return None
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread left behind
    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, dynamic_ncols=True, leave=leave)
