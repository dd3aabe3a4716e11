"""Fills the shared Go build cache by compiling, in the sandbox, a program that imports the
standard packages most programs use; later runs see it read-only under a private overlay."""

from __future__ import annotations

import asyncio
import dataclasses

from sandbox import gocache
from sandbox.errors import SandboxError
from sandbox.limits import Limits
from sandbox.result import Status
from sandbox.runner import Sandbox
from sandbox.settings import SandboxSettings

WARM_GO = """package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	r := bufio.NewReader(os.Stdin)
	s, _ := r.ReadString('\\n')
	xs := []int{3, 1, 2}
	sort.Ints(xs)
	fmt.Println(strings.TrimSpace(s), strconv.Itoa(xs[0]), math.Sqrt(4))
}
"""


def warm_go_cache(settings: SandboxSettings) -> None:
    """Compile WARM_GO with the shared cache bound writable (run as root, before serving)."""
    cache = settings.go_cache
    cache.mkdir(parents=True, exist_ok=True)
    # Writable by the sandbox user while warming (bound as is, not through an overlay); given
    # back to root before root writes in it again.
    gocache.set_ownership(cache, *settings.ids(0))
    try:
        # One slot: the run is slot 0's, whose user owns the cache meanwhile.
        sandbox = Sandbox(dataclasses.replace(settings, slots=1))
        sandbox.warming = True
        limits = Limits(compile_time_limit_ms=120_000, compile_memory_mb=2048, workdir_mb=512)
        result = asyncio.run(sandbox.run("go", WARM_GO, "warm\n", limits))
        sandbox.close()
    finally:
        gocache.set_ownership(cache)
    if result.status is not Status.COMPLETED:
        raise SandboxError(f"warming the Go cache failed: {result.compile_output}{result.stderr}")
    gocache.keep_fresh(cache)
