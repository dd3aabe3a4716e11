"""The printed table and its targets, from the JSON-ready results of one bench run."""

from __future__ import annotations

import math
from typing import Any

# (what, key into `measured`, bound, True if the measured value must be at least the bound)
TARGETS = (
    ("python hello world end to end median (SSE) <= 30 ms", "python_e2e_median", 30.0, False),
    ("python hello world end to end p99 (SSE) <= 60 ms", "python_e2e_p99", 60.0, False),
    ("pipeline overhead median (python, SSE, per run) <= 15 ms", "overhead_median", 15.0, False),
    ("pipeline overhead p99 (python, SSE, per run) <= 40 ms", "overhead_p99", 40.0, False),
    ("services' CPU per completed run <= 10 ms", "services_cpu_ms", 10.0, False),
    ("throughput >= 0.8 of the same-run ceiling", "throughput_ratio", 0.8, True),
    ("java hello world end to end median (SSE) <= 200 ms", "java_e2e_median", 200.0, False),
    ("cpp hello world end to end median (SSE) <= 150 ms", "cpp_e2e_median", 150.0, False),
    ("typescript hello world end to end median (SSE) <= 150 ms", "ts_e2e_median", 150.0, False),
    ("GET /executions/{id} p99 <= 10 ms at 500 requests/s", "get_p99_at_500", 10.0, False),
)
SERVICES = ("api", "processors", "projector", "kafka", "postgres", "redis")


def ms(value: Any) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def pair(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    return f"{ms(summary.get('median'))} / {ms(summary.get('p99'))}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def measured(results: dict[str, Any]) -> dict[str, float | None]:
    latency = results.get("latency", {})
    python = latency.get("python", {})
    throughput = results.get("throughput", {})
    api = results.get("api", {}).get("get_500", {})

    def e2e(key: str, stat: str) -> Any:
        return latency.get(key, {}).get("end_to_end", {}).get("sse", {}).get(stat)

    cpu = throughput.get("pipeline", {}).get("cpu_ms_per_run", {})
    services = [cpu.get(name) for name in SERVICES]
    return {
        "python_e2e_median": e2e("python", "median"),
        "python_e2e_p99": e2e("python", "p99"),
        "overhead_median": python.get("overhead", {}).get("sse", {}).get("median"),
        "overhead_p99": python.get("overhead", {}).get("sse", {}).get("p99"),
        "services_cpu_ms": sum(services) if services and None not in services else None,
        "throughput_ratio": throughput.get("ratio"),
        "java_e2e_median": e2e("java", "median"),
        "cpp_e2e_median": e2e("cpp", "median"),
        "ts_e2e_median": e2e("typescript", "median"),
        "get_p99_at_500": api.get("latency_from_due", {}).get("p99"),
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    values = measured(results)
    out = []
    for text, key, limit, at_least in TARGETS:
        value = values[key]
        if value is None or not math.isfinite(value):
            met = None
        else:
            met = value >= limit if at_least else value <= limit
        out.append({"target": text, "measured": value, "met": met})
    return out


def floor_lines(results: dict[str, Any]) -> list[str]:
    """The design's latency floor (bench/chain.py) beside the engine's Python overhead."""
    floor = results.get("floor")
    if not floor:
        return []
    stages = floor["stages"]
    overhead = stages["overhead (per run)"]
    engine = results.get("latency", {}).get("python", {}).get("overhead", {}).get("sse", {})
    ratio = (engine["median"] / overhead["median"]) if engine.get("median") else math.nan
    return [
        f"   the design's floor, no engine code (bench.chain: {floor['runs']} runs "
        f"{floor['gap_ms']:g} ms apart, a {floor['program_ms']:g} ms stand-in program):",
        *[f"     {k:<36} {pair(v)}" for k, v in stages.items() if k != "end to end"],
        f"     engine's overhead / the floor's, medians: {ratio:.2f}",
    ]


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    parts = [f"machine: {m['summary']}; load average {m.get('load_average_1m', 0):.1f} at start, "
             f"{m.get('load_average_1m_at_end', 0):.1f} at end", ""]  # fmt: skip
    latency = results.get("latency", {})
    if latency:
        parts.append(
            "1. Hello world latency, ms (median / p99; n samples each: a p99 of fewer "
            "than 100 is their maximum; overhead = end to end - the run's own sandbox "
            "time, per run)"
        )
        rows = [[key, str(r["sandboxed"]["n"]), pair(r["bare"]), pair(r["sandboxed"]),
                 pair(r.get("cold")) if r.get("cold") else "(no warm)",
                 pair(r["end_to_end"].get("sse")), pair(r["end_to_end"].get("poll")),
                 pair(r["overhead"].get("sse")), pair(r["overhead"].get("poll"))]
                for key, r in latency.items()]  # fmt: skip
        parts.append(table(["language", "n", "bare", "sandboxed", "sandboxed cold", "e2e SSE",
                            "e2e poll", "overhead SSE", "overhead poll"], rows))  # fmt: skip
        parts.append("   sandboxed: Sandbox.run as the engine runs it (through a warm sandbox "
                     "where the language has one); cold: the same without warm sandboxes")  # fmt: skip
        for key, r in latency.items():
            if r.get("error"):
                parts.append(f"   {key}: stopped early: {r['error']}")
        phases = latency.get("python", {}).get("phases", {})
        if phases:
            parts.append(
                "   python phases: " + ", ".join(f"{k} {pair(v)}" for k, v in phases.items())
            )
        hops = latency.get("python", {}).get("hops", {})
        if hops:
            parts.append("   python hops (from the events' timestamps):")
            parts += [f"     {k:<36} {pair(v)}" for k, v in hops.items()]
        parts += floor_lines(results)
        parts.append("")
    tp = results.get("throughput", {})
    if tp:
        parts.append("2. Throughput, python hello world, all slots busy")
        parts.append(table(["what", "slots", "seconds", "runs", "runs/s"], [
            ["pipeline (API, Kafka, executor)", str(tp["slots"]), str(tp["pipeline"]["seconds"]),
             str(tp["pipeline"]["runs"]), str(tp["pipeline"]["runs_per_s"])],
            ["ceiling (sandbox alone)", str(tp["slots"]), str(tp["ceiling"]["seconds"]),
             str(tp["ceiling"]["runs"]), str(tp["ceiling"]["runs_per_s"])],
        ]))  # fmt: skip
        parts.append(f"   ratio pipeline / ceiling: {tp['ratio']:.2f}; end to end under load "
                     f"{pair(tp['pipeline']['end_to_end_ms'])} ms, queue "
                     f"{pair(tp['pipeline']['queue_ms'])} ms")  # fmt: skip
        cpu = tp["pipeline"].get("cpu_ms_per_run", {})
        if cpu:
            parts.append("   CPU ms per completed run: " + ", ".join(
                f"{k} {v}" for k, v in cpu.items() if k != "machine busy %"
            ) + f"; machine busy {cpu.get('machine busy %')}%")  # fmt: skip
        idle = tp.get("idle_cpu_ms_per_s", {})
        if idle:
            total = sum(idle.values())
            target_rate = 0.8 * tp["ceiling"]["runs_per_s"]
            parts.append("   services' CPU with no run, ms per second: " + ", ".join(
                f"{k} {v}" for k, v in idle.items()
            ) + f"; {total:.1f} in all, {total / target_rate:.2f} ms per run at 0.8 of the "
                f"ceiling ({target_rate:.1f} runs/s)")  # fmt: skip
        parts.append(f"   ceiling halves (before, after the pipeline): "
                     f"{tp['ceiling'].get('halves_runs_per_s')} runs/s")  # fmt: skip
        parts.append("")
    api = results.get("api", {})
    if api:
        parts.append("3. API under load from another process, latency ms")
        rows = [[name, str(r["target_rate"] or "max"), str(r["rate"]), str(r["requests"]),
                 str(r["errors"]), ms(r["latency_from_due"]["median"]),
                 ms(r["latency_from_due"]["p99"]), ms(r["latency_from_send"]["p99"])]
                for name, r in api.items()]  # fmt: skip
        parts.append(table(["load", "offered/s", "done/s", "requests", "errors", "p50", "p99",
                            "p99 from send"], rows))  # fmt: skip
        parts.append("")
    scaling = results.get("scaling", {})
    if scaling:
        parts.append("4. Scaling")
        rows = [[f"{n} executor(s)", str(r["slots"]), str(r["runs_per_s"]),
                 str(r["not_completed"]), pair(r["queue_ms"]), pair(r["end_to_end_ms"])]
                for n, r in scaling.get("executors", {}).items()]  # fmt: skip
        parts.append(table(["workers", "slots", "runs/s", "not completed", "queue ms",
                            "end to end ms"], rows))  # fmt: skip
        over = scaling.get("overload")
        if over:
            parts.append(f"   at 2x the sustainable rate ({over['offered_runs_per_s']}/s for "
                         f"{over['offered_seconds']}s, 1 executor): queue wait median / p99 "
                         f"{pair(over['queue_ms'])} ms, max {ms(over['queue_ms']['max'])} ms, "
                         f"drained after {over['drained_after_s']}s, refused {over['refused']}")  # fmt: skip
        parts.append("")
    memory = results.get("memory", {})
    if memory:
        parts.append("5. Memory, MiB (PSS of each service's process tree)")
        names = sorted(set(memory.get("idle", {})) | set(memory.get("load", {})))
        rows = [[n, ms(memory.get("idle", {}).get(n)), ms(memory.get("load", {}).get(n))]
                for n in names]  # fmt: skip
        parts.append(table(["service", "idle", "peak under load"], rows))
        parts.append("")
    parts.append("Targets")
    for t in results.get("targets", []):
        mark = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        value = t["measured"]
        shown = f"{value:.2f}" if isinstance(value, float) and math.isfinite(value) else "-"
        parts.append(f"  [{mark:6}] {t['target']}: {shown}")
    floor = results.get("floor")
    if floor:
        overhead = floor["stages"]["overhead (per run)"]
        parts.append(f"  (the design's own floor here, bench.chain: overhead {pair(overhead)} ms)")
    return "\n".join(parts)
