"""One error hierarchy for the package.

Every error names what was wrong and how to fix it, so that a node can log it and keep
serving, and a command-line user knows what to change.
"""

from __future__ import annotations

import re

# " (fix: ...)" as this class formats it, allowing one level of parentheses inside the advice
_FIX_CLAUSE = re.compile(r" \(fix: (?:[^()]|\([^()]*\))*\)")


class EdgeAiError(Exception):
    """Base class of every error this package raises on purpose.

    ``str(err)`` is the message followed by one ``(fix: ...)``. When a message quotes another
    error (``f"...: {err}"``) and brings its own fix, the quoted error's advice is dropped: the
    outer error knows the context, and the reader gets one remedy, not two.
    """

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.fix = fix
        if fix:
            message = _FIX_CLAUSE.sub("", message)
        self.message = message
        super().__init__(f"{message} (fix: {fix})" if fix else message)


class ConfigError(EdgeAiError, ValueError):
    """A parameter, recipe or option has a value the package cannot use."""

    def __init__(self, field: str, problem: str, *, fix: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}", fix=fix)


class InvalidInputError(EdgeAiError, ValueError):
    """One input (an image, a tensor, a calibration sample) is unusable; skip it, keep going."""

    def __init__(self, field: str, problem: str, *, fix: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}", fix=fix)


class ManifestError(EdgeAiError):
    """A manifest is missing, malformed, or does not match its engine or this machine."""


class EngineError(EdgeAiError):
    """A backend could not load or run a model."""


class BackendUnavailableError(EngineError):
    """The backend's runtime library is not installed or cannot see its device."""


class CompileError(EdgeAiError):
    """Building an engine failed; nothing was written to the cache."""


class AccuracyGateError(CompileError):
    """The built engine is less accurate than the allowed drop; it was not kept."""


class BagError(EdgeAiError):
    """A rosbag2 bag is missing, truncated, or lacks the requested topic."""


class UnsafeWeightsError(EdgeAiError):
    """A weights file would execute code when loaded (pickle); it was refused."""


class StorageError(EdgeAiError):
    """The file system refused a write (full, read-only, no permission): not a problem of the model.

    ``errno`` is the OS error number (errno.ENOSPC, EACCES, EROFS, ...), ``path`` where it happened.
    """

    def __init__(self, message: str, *, errno: int | None, path: str, fix: str | None = None) -> None:
        self.errno = errno
        self.path = path
        super().__init__(message, fix=fix)


def one_line(err: BaseException) -> str:
    """An error as one clean line: line breaks and blank lines folded, and only the outermost
    ``(fix: ...)`` kept, at the end (``EdgeAiError`` already drops the advice of errors it quotes)."""
    fix = getattr(err, "fix", None)
    text = " ".join(part.strip() for part in str(getattr(err, "message", err)).splitlines() if part.strip())
    if not fix:
        return text
    return f"{_FIX_CLAUSE.sub('', text)} (fix: {' '.join(fix.split())})"
