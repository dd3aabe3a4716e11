"""Exceptions of the sandbox package: one root, specific subclasses whose docstring is the message."""

from __future__ import annotations


class SandboxError(Exception):
    """The sandbox failed."""

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.message = message or (type(self).__doc__ or "").strip()
        self.details = details
        super().__init__(self.message)


class InvalidLimits(SandboxError):
    """A limit is outside its allowed range."""


class InvalidFiles(SandboxError):
    """A file of the program has a name the work dir cannot hold as given."""


class UnknownLanguage(SandboxError):
    """No language has this id, key or name."""


class LanguageDefinitionError(SandboxError):
    """A language definition file is malformed."""


class SourceTooLarge(SandboxError):
    """The source code or stdin is larger than allowed."""


class SandboxUnavailable(SandboxError):
    """The sandbox cannot run programs on this host (bubblewrap missing or not usable)."""


class CgroupError(SandboxError):
    """A control group could not be created, configured or removed."""


class WorkdirError(SandboxError):
    """The private working directory of a run could not be prepared or removed."""
