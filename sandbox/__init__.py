"""Runs one untrusted program under limits and isolation (bubblewrap, cgroups, seccomp, rlimits).

Depends on nothing of ours. Entry points: `Sandbox(settings).run(...)` and `registry()`.
"""

from __future__ import annotations

from sandbox.errors import (
    CgroupError,
    InvalidFiles,
    InvalidLimits,
    LanguageDefinitionError,
    SandboxError,
    SandboxUnavailable,
    SourceTooLarge,
    UnknownLanguage,
    WorkdirError,
)
from sandbox.limits import Limits
from sandbox.registry import Language, Registry, registry
from sandbox.result import ErrorCode, Result, Status
from sandbox.runner import Capabilities, Sandbox
from sandbox.settings import SandboxSettings
from sandbox.stdin import StdinFeed

__all__ = [
    "Capabilities",
    "CgroupError",
    "ErrorCode",
    "InvalidFiles",
    "InvalidLimits",
    "Language",
    "LanguageDefinitionError",
    "Limits",
    "Registry",
    "Result",
    "Sandbox",
    "SandboxError",
    "SandboxSettings",
    "SandboxUnavailable",
    "SourceTooLarge",
    "Status",
    "StdinFeed",
    "UnknownLanguage",
    "WorkdirError",
    "registry",
]
