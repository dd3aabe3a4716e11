"""The one table `make chaos` prints: a row per fault, its notes below it."""

from __future__ import annotations

from chaos.faults import Report
from chaos.oracle import Summary

COLUMNS = ("fault", "accepted", "completed", "lost", "run twice", "worst stuck s")


def row(report: Report, summary: Summary) -> list[str]:
    return [
        report.name,
        str(summary.accepted),
        str(summary.completed),
        str(summary.lost),
        str(summary.twice),
        (">" if summary.still_stuck else "") + f"{summary.worst_stuck_s:.1f}",
    ]


def notes(report: Report, summary: Summary) -> list[str]:
    found = [report.title]
    if summary.lost_because:
        found.append("lost: " + ", ".join(f"{n} {why}" for why, n in summary.lost_because.items()))
    if summary.twice_because:
        found.append(
            "run twice: " + ", ".join(f"{n} {why}" for why, n in summary.twice_because.items())
        )
    if summary.examples:
        found.append("e.g. " + ", ".join(summary.examples))
    return found + report.notes


def render(header: list[str], results: list[tuple[Report, Summary]]) -> str:
    rows = [row(report, summary) for report, summary in results]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                         enumerate(zip(cells, widths, strict=True)))  # fmt: skip

    out = [*header, "", line(COLUMNS) + "  notes", line(["-" * w for w in widths]) + "  -----"]
    indent = " " * (sum(widths) + 2 * len(widths))
    for cells, (report, summary) in zip(rows, results, strict=True):
        found = notes(report, summary)
        out.append(line(cells) + "  " + found[0])
        out.extend(indent + note for note in found[1:])
    failed = [r.name for r, s in results if s.lost or s.twice]
    out.append("")
    out.append(
        f"FAILED: lost or duplicated runs under {', '.join(failed)}"
        if failed
        else "OK: every accepted run ended once, with its output"
    )
    return "\n".join(out)
