"""Type hints of the extension module; use the wrappers in :mod:`callorder`."""

from typing import Optional

def check_file(path: str, profile: str) -> tuple[str, str]:
    """Checks a trace file: ``(json report, human report)``."""

def check_bytes(name: str, data: bytes, profile: str) -> tuple[str, str]:
    """Checks a whole trace held in memory: ``(json report, human report)``."""

def rules() -> list[tuple[str, str, str, str, str]]:
    """The rule table: ``(id, kind, text, cites, semantics)`` per rule."""

class StreamChecker:
    """One event at a time; closed after the first violation or error."""

    def __init__(self, profile: str, name: str) -> None: ...
    def step(self, line: str) -> Optional[tuple[str, str]]:
        """``None`` while legal, else the closing report."""
    def finish(self) -> tuple[str, str]:
        """The report so far; closes the checker."""
    @property
    def events(self) -> int: ...
    @property
    def complete(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
