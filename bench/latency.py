"""Section 1: per language hello world, bare, sandboxed and end to end (SSE and polling).

The four are interleaved sample by sample (bare, sandboxed, SSE, poll), so a change in machine
load hits them alike; a language with a warm program (docs/warm-sandboxes.md) is also run through
a sandbox without warm sandboxes ("cold"), so its warm and cold starts are reported separately. Pipeline overhead is computed per run: the run's end to end time minus the
sandbox's own time for that same run (finished_at - started_at, the executor's clock), then the
median and p99 of those differences (a p99 of a difference is never the difference of p99s). The
server's timestamps split each end-to-end run into POST (until the 202), queue (queued_at to
started_at), run (started_at to finished_at) and delivery (finished_at until the client saw it);
`hops` does the same from the events in Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench import hops
from bench.client import Timed, create_session, http_client, timed_run
from bench.isolation import Isolation, language
from bench.stats import Summary

WAYS = ("bare", "sandboxed", "cold", "sse", "poll")


@dataclass
class LanguageLatency:
    """One language's figures, in milliseconds."""

    key: str
    bare: Summary
    sandboxed: Summary
    cold: Summary | None = (
        None  # through a sandbox without warm ones (languages with a warm program)
    )
    end_to_end: dict[str, Summary] = field(default_factory=dict)  # by "sse" / "poll"
    overheads: dict[str, Summary] = field(default_factory=dict)  # per-run e2e - own run
    phases: dict[str, Summary] = field(default_factory=dict)  # over both ways
    hops: dict[str, Summary] = field(default_factory=dict)  # from the events' timestamps
    error: str | None = None

    def overhead(self, via: str) -> dict[str, float]:
        summary = self.overheads.get(via)
        if summary is None:
            return {"median": float("nan"), "p99": float("nan")}
        return {"median": summary.median, "p99": summary.p99}

    def to_dict(self) -> dict[str, Any]:
        return {
            "bare": self.bare.to_dict(),
            "sandboxed": self.sandboxed.to_dict(),
            "cold": self.cold.to_dict() if self.cold else None,
            "end_to_end": {k: v.to_dict() for k, v in self.end_to_end.items()},
            "overhead": {
                via: {k: round(v, 2) for k, v in self.overhead(via).items()}
                for via in self.end_to_end
            },
            "phases": {k: v.to_dict() for k, v in self.phases.items()},
            "hops": {k: v.to_dict() for k, v in self.hops.items()},
            "error": self.error,
        }


def phases(runs: list[Timed]) -> dict[str, Summary]:
    return {
        "post": Summary.of([(r.accepted_at - r.posted_at) * 1000 for r in runs]),
        "queue": Summary.of([r.queue_ms for r in runs]),
        "run": Summary.of([(r.stamp("finished_at") - r.stamp("started_at")) * 1000 for r in runs]),
        "delivery": Summary.of([(r.seen_at - r.stamp("finished_at")) * 1000 for r in runs]),
    }


async def one_language(url: str, isolation: Isolation, key: str, samples: int,
                       bootstrap: str) -> LanguageLatency | None:  # fmt: skip
    lang = language(key)
    if lang is None:
        print(f"  {key}: not installed, skipped", flush=True)
        return None
    warm = any(lang.warm(purpose) for purpose in ("compile", "run"))
    ways = "bare, sandboxed, cold, SSE, poll" if warm else "bare, sandboxed, SSE, poll"
    print(f"  {key}: {samples} x ({ways})", flush=True)
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    overheads: dict[str, list[float]] = {"sse": [], "poll": []}
    runs: list[Timed] = []
    error = None
    async with http_client(url) as http:
        try:
            session_id = await create_session(http, key)
            await isolation.bare(lang)  # warm-up of caches on every path
            await isolation.sandboxed(lang)
            if warm:
                await isolation.cold(lang)
            await timed_run(http, session_id, "sse")
            for _ in range(samples):
                times["bare"].append(await isolation.bare(lang))
                times["sandboxed"].append(await isolation.sandboxed(lang))
                if warm:
                    times["cold"].append(await isolation.cold(lang))
                for via in ("sse", "poll"):
                    timed = await timed_run(http, session_id, via)
                    if timed.result["status"] != "COMPLETED":
                        raise RuntimeError(
                            f"{timed.result['status']}: {timed.result.get('stderr')}"
                        )
                    times[via].append(timed.end_to_end_ms)
                    own_ms = (timed.stamp("finished_at") - timed.stamp("started_at")) * 1000
                    overheads[via].append(timed.end_to_end_ms - own_ms)
                    runs.append(timed)
        except Exception as exc:  # one broken language must not sink the whole table
            error = f"{type(exc).__name__}: {exc}"[:300]
            print(f"  {key}: {error}", flush=True)
    row = LanguageLatency(key, Summary.of(times["bare"]), Summary.of(times["sandboxed"]),
                          Summary.of(times["cold"]) if warm else None, error=error)  # fmt: skip
    row.end_to_end = {via: Summary.of(times[via]) for via in ("sse", "poll")}
    row.overheads = {via: Summary.of(overheads[via]) for via in ("sse", "poll")}
    if runs:
        row.phases = phases(runs)
        try:
            row.hops = await hops.breakdown(bootstrap, runs)
        except Exception as exc:  # the breakdown is a diagnosis; the figures above stand
            print(f"  {key}: no hop breakdown: {exc}", flush=True)
    return row


async def measure(url: str, keys: list[str], python_samples: int, other_samples: int,
                  bootstrap: str) -> list[LanguageLatency]:  # fmt: skip
    isolation = Isolation()
    out = []
    try:
        for key in keys:
            samples = python_samples if key == "python" else other_samples
            row = await one_language(url, isolation, key, samples, bootstrap)
            if row is not None:
                out.append(row)
    finally:
        isolation.close()
    return out
