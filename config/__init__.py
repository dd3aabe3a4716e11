"""Typed settings, read once from the environment and validated when a component starts.

Each component declares one `Settings` subclass (a frozen msgspec Struct): a field is read from
the variable named after it in upper case (with the class's `PREFIX`), parsed to its type and
checked against its `msgspec.Meta` bounds. A bad value raises `SettingsError` naming the
variable, the value and what is allowed; the entry points print it and exit with status 2.
A field whose type is itself a `Settings` is read from the same environment, so settings that
several components share (the run-limit policy) are declared once.
"""

from __future__ import annotations

import operator
import os
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import msgspec

__all__ = ["Settings", "SettingsError", "describe", "exit_on_bad_settings"]

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting from the environment is not valid."""

    def __init__(self, variable: str, value: object, allowed: str) -> None:
        self.variable, self.value, self.allowed = variable, value, allowed
        super().__init__(f"{variable}={value!r} is not valid: {allowed}")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every component's settings; see the module docstring."""

    PREFIX: ClassVar[str] = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings from `environ` (default: os.environ); unset variables keep defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, annotation in typing.get_type_hints(cls, include_extras=True).items():
            if name.isupper() or typing.get_origin(annotation) is ClassVar:
                continue
            base, _meta = _unwrap(annotation)
            if isinstance(base, type) and issubclass(base, Settings):
                values[name] = base.from_env(env)
                continue
            variable = cls.PREFIX + name.upper()
            raw = env.get(variable)
            if raw is None or raw.strip() == "":
                continue
            values[name] = parse(variable, raw.strip(), annotation)
        return cls(**values)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Rules across fields; raise SettingsError. Override where a component has some."""


def _unwrap(annotation: Any) -> tuple[Any, msgspec.Meta | None]:
    """The base type of `annotation` and its Meta, Annotated and `X | None` taken apart."""
    meta = None
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *extras = typing.get_args(annotation)
        meta = next((e for e in extras if isinstance(e, msgspec.Meta)), None)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            inner, inner_meta = _unwrap(options[0])
            return inner, meta or inner_meta
    return annotation, meta


def _bounds(meta: msgspec.Meta | None) -> str:
    if meta is None:
        return ""
    parts = []
    for key, text in (("ge", ">= {}"), ("gt", "> {}"), ("le", "<= {}"), ("lt", "< {}")):
        value = getattr(meta, key)
        if value is not None:
            parts.append(text.format(value))
    return " and ".join(parts)


def parse(variable: str, raw: str, annotation: Any) -> Any:
    """`raw` as the type `annotation` declares, within its bounds, or SettingsError."""
    base, meta = _unwrap(annotation)
    bounds = _bounds(meta)
    if base is bool:
        lowered = raw.lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise SettingsError(variable, raw, "expected one of 1, true, yes, on, 0, false, no, off")
    if typing.get_origin(base) is typing.Literal:
        choices = typing.get_args(base)
        if raw in choices:
            return raw
        raise SettingsError(variable, raw, f"expected one of {', '.join(map(str, choices))}")
    if base is Path:
        return Path(raw)
    kinds = {int: "an integer", float: "a number", str: "a string"}
    if base not in kinds:
        raise TypeError(f"{variable}: settings of type {base!r} are not supported")
    try:
        value = base(raw)
    except ValueError:
        value = None
    if value is None or (meta is not None and not _within(value, meta)):
        allowed = kinds[base] + (f" {bounds}" if bounds else "")
        raise SettingsError(variable, raw, f"expected {allowed}")
    return value


def _within(value: Any, meta: msgspec.Meta) -> bool:
    checks = ((meta.ge, operator.ge), (meta.gt, operator.gt), (meta.le, operator.le),
              (meta.lt, operator.lt))  # fmt: skip
    return all(bound is None or bool(compare(value, bound)) for bound, compare in checks)


def describe(cls: type[Settings]) -> list[tuple[str, str, str]]:
    """(variable, default, description) of every setting of `cls`, nested ones included."""
    rows: list[tuple[str, str, str]] = []
    fields = {f.name: f for f in msgspec.structs.fields(cls)}
    for name, annotation in typing.get_type_hints(cls, include_extras=True).items():
        if name not in fields:
            continue
        base, meta = _unwrap(annotation)
        if isinstance(base, type) and issubclass(base, Settings):
            rows += describe(base)
            continue
        field = fields[name]
        default = field.default if field.default is not msgspec.NODEFAULT else "(computed)"
        description = (meta.description or "") if meta is not None else ""
        rows.append((cls.PREFIX + name.upper(), str(default), description))
    return rows


def exit_on_bad_settings(read: Callable[[], T]) -> T:
    """Call `read`; on SettingsError print it (one line, to stderr) and exit with status 2."""
    try:
        return read()
    except SettingsError as exc:
        import sys

        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
