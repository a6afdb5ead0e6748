"""What the gates (pytest, trial, run) share: where a trace goes, and how a
verdict is told."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from callorder import Verdict

    from ._recorder import Recording


def trace_path(directory: str, test_name: str) -> str:
    """The file of one test's trace: its name made safe for a file system."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name).strip("_") or "trace"
    if len(safe) > 180:
        safe = safe[:120] + "_" + format(abs(hash(test_name)), "x")
    return os.path.join(directory, safe + ".jsonl")


def explain(verdict: "Verdict", recording: "Recording", name: Optional[str] = None) -> str:
    """The verdict as ``callorder check`` prints it (which says so when the
    application made the offending call itself), and where the trace is."""
    parts = []
    if name:
        parts.append(f"callorder: {name}: {verdict.verdict}")
    parts.append(verdict.report.rstrip("\n"))
    if recording.path:
        parts.append(f"  trace: {recording.path}")
    return "\n".join(parts) + "\n"


def summary_line(recording: "Recording") -> Optional[str]:
    """A line about factories left alive that no test case holds, or
    ``None`` when there is none."""
    leaks = recording.leaks
    if leaks is None or not leaks.leaked:
        return None
    return f"factories alive: {leaks}"

