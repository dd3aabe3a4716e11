"""`python -m sandbox run|languages|warm|prebuild`: run one file, list languages, fill the Go build
cache, build what compilers load on every run (sandbox/prebuilt.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from sandbox.limits import Limits
from sandbox.registry import registry
from sandbox.runner import Sandbox
from sandbox.settings import SandboxSettings


def _run(args: argparse.Namespace) -> int:
    sandbox = Sandbox(SandboxSettings.from_env())
    lang = registry().get(args.language)
    defaults = sandbox.limits_for(lang) if lang else Limits()
    limits = defaults.with_changes(
        time_limit_ms=args.time_limit_ms or defaults.time_limit_ms,
        memory_mb=args.memory_mb or defaults.memory_mb,
    )
    stdin = Path(args.stdin).read_text() if args.stdin else ""
    try:
        result = asyncio.run(sandbox.run(args.language, Path(args.file).read_text(), stdin, limits))
    finally:
        sandbox.close()
    print(json.dumps(result.to_dict(), indent=2))
    return 0


def _languages(_args: argparse.Namespace) -> int:
    rows = [lang.to_dict() for lang in registry()]
    for row in rows:
        row.pop("template_code")
    print(json.dumps({"total": len(rows), "languages": rows}, indent=2))
    return 0


def _warm(_args: argparse.Namespace) -> int:
    from sandbox.warm import warm_go_cache

    settings = SandboxSettings.from_env()
    warm_go_cache(settings)
    print(f"go build cache ready at {settings.go_cache}")
    return 0


def _prebuild(_args: argparse.Namespace) -> int:
    from sandbox.prebuilt import build_all

    built, failed = build_all()
    for path in built:
        print(f"built {path}")
    for reason in failed:
        print(f"warning: not built (that compiler stays slower): {reason}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one source file and print the Result as JSON")
    run.add_argument("--language", required=True, help="id, key or name, e.g. python")
    run.add_argument("file")
    run.add_argument("--stdin", help="file whose content is the program's stdin")
    run.add_argument("--time-limit-ms", type=int)
    run.add_argument("--memory-mb", type=int)
    run.set_defaults(handler=_run)
    sub.add_parser("languages", help="list languages with versions").set_defaults(
        handler=_languages
    )
    sub.add_parser("warm", help="fill the shared Go build cache (root, once)").set_defaults(
        handler=_warm
    )
    sub.add_parser(
        "prebuild", help="build compiler archives and headers (root, once)"
    ).set_defaults(handler=_prebuild)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
