"""Warm sandboxes: steps started before their run exists, each used once and thrown away.

A language may declare a warm program for its run or compile step (`warm_run`, `warm_compile`
in its TOML; the protocol is in docs/warm-sandboxes.md). A *warm set* is one work directory and
one user of its own, with one warm step per declared program: each is an ordinary step (armed
launcher, cgroups, rlimits, bwrap, seccomp, the same mounts) whose command is the warm program,
started now with an empty /box. The program does its runtime's start-up, writes `R` on fd 4 and
waits on fd 3. A run takes a ready set of its language and limits, writes its files into the set's
/box, its stdin into the step's stdin, and its command line into fd 3 (step.run_warm_step); from
that hand-over on it is that run's step, timed and limited from then, and like every step it ends
with its pid namespace. So isolation is the cold step's: the same sandbox, started earlier, holding
nothing of any other run.

Each set runs as a user of its own (uids after the slots': SandboxSettings.warm_ids), so a run
never shares its uid with another live sandbox, the warm ones included.

How many sets each language keeps comes from demand (`targets`): a language run in the last
`DEMAND_WINDOW_S`, or listed in SANDBOX_WARM_LANGUAGES, keeps enough that the runs arriving while
a taken set's replacement becomes ready (a Poisson count whose mean is its recent arrival rate
times that time) find one ready `COVERAGE` of the time, at least one and at most one per slot,
within SANDBOX_WARM_MAX in all. (The mean alone, Little's law, left one set at a few runs a
second: every run that came while the last one's replacement started ran cold.) Refills happen
on the event loop's thread (as the armed launchers', see armed.py) after a run's teardown.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.armed import Armed, said_ready
from sandbox.errors import CgroupError, WorkdirError
from sandbox.limits import Limits
from sandbox.workdir import Workdir

log = logging.getLogger(__name__)
_POOLS: set[WarmPool] = set()  # strong: every pool is closed at exit, even if dropped


@atexit.register
def _close_all() -> None:
    # A worker exiting without Sandbox.close(): its warm sets' processes die with it (their
    # launchers' PR_SET_PDEATHSIG), but their cgroups and work directories are ours to remove.
    for pool in list(_POOLS):
        pool.close()


DEMAND_WINDOW_S = 120.0
"""A language not run for this long (and not in SANDBOX_WARM_LANGUAGES) keeps no warm set."""
RATE_WINDOW_S = 10.0
"""The arrival rate that sizes a language's sets is taken over this recent window."""
DEFAULT_LEAD_S = 0.1
"""Time from start to ready assumed for a language until one of its sets was used."""
COVERAGE = 0.9
"""How often a run should find a set ready, given Poisson arrivals at the recent rate."""


def covering(mean: float, most: int, coverage: float = COVERAGE) -> int:
    """The fewest sets, from 1 to `most`, such that a Poisson count of `mean` arrivals is below
    it with probability `coverage` (else `most`): each arrival takes one, and a run finds one
    ready when fewer than that many came before it while the replacements start."""
    sets, term = 1, math.exp(-mean)  # P(count = 0); 0.0 for a mean past ~745: `most` then
    below = term
    while below < coverage and sets < most:
        term *= mean / sets  # P(count = sets)
        below += term
        sets += 1
    return sets


@dataclass
class WarmStep:
    """One warm step: its armed launcher (already sent its go message) and our ends of its fds."""

    armed: Armed
    stdin: int
    """Our descriptor of the step's stdin memfd: the same open file as the program's fd 0."""
    control: int
    """Write end of the control pipe (the program's fd 3): the run's command line goes here."""
    ready_r: int
    """Read end of the ready pipe (the program's fd 4), non-blocking: `R` once it waits."""
    said_ready: bool = False

    def ready(self) -> bool | None:
        """True once its program said it waits, False before, None if it is gone."""
        if self.armed.popen.poll() is not None:
            return None
        if not self.said_ready:
            said = said_ready(lambda: os.read(self.ready_r, 1))
            if not said:
                return said
            self.said_ready = True
        return True

    def close_ours(self) -> None:
        """Close our ends (after the hand-over, or when discarded)."""
        for name in ("stdin", "control", "ready_r"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def discard(self) -> None:
        """Kill it unused and remove its cgroup."""
        self.close_ours()
        self.armed.discard()


@dataclass
class WarmSet:
    """The warm steps of one future run of `language` with `limits`, sharing a /box and a user."""

    language: str
    limits: Limits
    index: int
    """Which of the warm users it runs as (SandboxSettings.warm_ids)."""
    uid: int
    gid: int
    workdir: Workdir
    steps: dict[str, WarmStep]
    definition: object = None
    """The language definition its programs were started from: a run of another (a changed
    definition file, a test's own) is never handed to it, since its warm program would refuse a
    command line it was not started for."""
    binds: list[tuple[Path, str]] = field(default_factory=list)
    """Its build-cache binds (made with its work directory)."""
    started: float = field(default_factory=time.monotonic)
    ready_at: float | None = None

    def ready(self) -> bool | None:
        """True once every step waits, None if one is gone."""
        states = [step.ready() for step in self.steps.values()]
        if any(s is None for s in states):
            return None
        if all(states):
            if self.ready_at is None:
                self.ready_at = time.monotonic()
            return True
        return False

    def discard_unused(self) -> None:
        """Kill the steps its run did not use (a compile error leaves the run step)."""
        while self.steps:
            _purpose, step = self.steps.popitem()
            with contextlib.suppress(OSError, CgroupError):
                step.discard()

    def discard(self) -> None:
        """Kill every step unused and remove the work directory."""
        self.discard_unused()
        with contextlib.suppress(OSError, WorkdirError):
            self.workdir.remove()


Starter = Callable[[str, Limits, int], WarmSet]
"""Starts a warm set: (language key, limits, warm user index) -> the set (Sandbox._start_warm)."""


class WarmPool:
    """Warm sets by (language, limits), sized from demand; see the module's docstring."""

    def __init__(self, starter: Starter, users: int, total: int, slots: int,
                 always: Iterable[str], defaults: Callable[[str], Limits],
                 definition: Callable[[str], object] = lambda key: None) -> None:  # fmt: skip
        self._start = starter
        self._definition = definition
        self._total = total
        self._slots = slots
        self._always = tuple(always)
        self._defaults = defaults
        self._free_users = list(range(users))
        self._sets: list[WarmSet] = []
        self._runs: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._ready_s: dict[str, float] = {}  # recent time from start to ready, per language
        self._closed = False
        _POOLS.add(self)
        self.taken = 0  # runs handed to a warm set (for tests)

    def demand(self, language: str, now: float | None = None) -> None:
        """Count one run of `language` (it sizes the language's sets)."""
        runs = self._runs[language]
        now = time.monotonic() if now is None else now
        runs.append(now)
        while runs and runs[0] < now - DEMAND_WINDOW_S:
            runs.popleft()

    def targets(self, now: float | None = None) -> dict[str, int]:
        """How many sets each language should keep now (default limits only)."""
        now = time.monotonic() if now is None else now
        wanted: dict[str, int] = {}
        for language in {*self._always, *self._runs}:
            runs = [t for t in self._runs.get(language, ()) if t >= now - DEMAND_WINDOW_S]
            if not runs and language not in self._always:
                continue
            rate = sum(1 for t in runs if t >= now - RATE_WINDOW_S) / RATE_WINDOW_S
            lead = self._ready_s.get(language, DEFAULT_LEAD_S)
            wanted[language] = covering(rate * lead, self._slots)
        # Within the total: the most demanded languages first, one set each, then the rest.
        order = sorted(wanted, key=lambda lang: -len(self._runs.get(lang, ())))
        budget, out = self._total, dict.fromkeys(order, 0)
        for round_ in range(self._slots):
            for language in order:
                if budget and out[language] < wanted[language] and round_ < wanted[language]:
                    out[language] += 1
                    budget -= 1
        return {lang: n for lang, n in out.items() if n}

    def take(self, language: str, limits: Limits) -> WarmSet | None:
        """A ready set for a run of `language` with `limits`, now that run's, or None. Every call
        counts as demand for the language."""
        self.demand(language)
        chosen = None
        definition = self._definition(language)
        for warm in list(self._sets):
            if warm.language != language or warm.limits != limits:
                continue
            if warm.definition != definition:
                continue
            state = warm.ready()
            if state is None:
                self._drop(warm)
            elif state and chosen is None:
                chosen = warm
        if chosen is None:
            return None
        self._sets.remove(chosen)
        assert chosen.ready_at is not None
        # A smoothed start-to-ready time: how far ahead this language's sets must be started.
        took = chosen.ready_at - chosen.started
        self._ready_s[language] = 0.8 * self._ready_s.get(language, took) + 0.2 * took
        self.taken += 1
        return chosen

    def release(self, warm: WarmSet) -> Callable[[], None]:
        """What gives the set's user back once every process of its run is gone (a teardown)."""

        def give_back() -> None:
            self._free_users.append(warm.index)

        return give_back

    def refill(self) -> None:
        """Start sets up to the targets and drop those no longer wanted (or gone)."""
        if self._closed:
            return
        targets = self.targets()
        have: dict[str, int] = collections.Counter()
        for warm in list(self._sets):
            keep = (
                warm.limits == self._defaults(warm.language)
                and warm.definition == self._definition(warm.language)
                and warm.ready() is not None
            )
            if not keep or have[warm.language] >= targets.get(warm.language, 0):
                self._drop(warm)
                continue
            have[warm.language] += 1
        for language, count in targets.items():
            while have[language] < count and self._free_users:
                index = self._free_users.pop(0)
                try:
                    warm = self._start(language, self._defaults(language), index)
                except (OSError, CgroupError, WorkdirError):
                    self._free_users.append(index)
                    log.warning("sandbox: could not start a warm %s sandbox", language,
                                exc_info=True)  # fmt: skip
                    return
                self._sets.append(warm)
                have[language] += 1

    def lead(self, language: str, seconds: float) -> None:
        """Set the smoothed start-to-ready time of a language (measured by `take`; for tests)."""
        self._ready_s[language] = seconds

    def ready_count(self, language: str | None = None) -> int:
        return sum(1 for w in self._sets if (language in (None, w.language)) and w.ready())

    def pids(self) -> list[int]:
        """Launcher pids of the sets kept (for tests and health checks)."""
        return [s.armed.popen.pid for w in self._sets for s in w.steps.values()]

    def cgroup_dirs(self) -> list[str]:
        """Cgroup directories of the sets kept (for tests and health checks)."""
        return [
            str(d) for w in self._sets for s in w.steps.values() for d in s.armed.cg.dirs.values()
        ]

    def workdirs(self) -> list[Workdir]:
        return [w.workdir for w in self._sets]

    def _drop(self, warm: WarmSet) -> None:
        self._sets.remove(warm)
        warm.discard()
        self._free_users.append(warm.index)

    def close(self) -> None:
        """Kill every set kept (at shutdown)."""
        self._closed = True
        _POOLS.discard(self)
        while self._sets:
            self._drop(self._sets[0])
