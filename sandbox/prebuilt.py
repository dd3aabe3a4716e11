"""What compilers load on every run, prepared once at provision time (as root, on our own
training sources, never on a user's): a class-data-sharing archive of javac's classes,
precompiled C++ standard headers, a startup snapshot of the TypeScript compiler, and Java's warm
programs (sandbox/java: the pre-started javac and the run's agent, see java.toml).

Each artifact is built with the very flags of its language's compile command (read from its
definition), lands in a root-owned directory under PREBUILT that the language mounts read-only,
is written under a temporary name and renamed into place (the JVM crashes on a half-written
archive), and is rebuilt only when the compiler's version or the command changes (a stamp file
beside it). A missing or stale artifact only makes compiles slower, never different: javac
maps an archive that does not match its JVM build no more than it maps a missing one, and g++
reads the header itself where a precompiled one is missing or was built otherwise; TypeScript's
compile command falls back to plain tsc when Node cannot use the snapshot.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import zipfile
from pathlib import Path

from sandbox.errors import SandboxError
from sandbox.registry import Language, registry

PREBUILT = Path("/var/cache/sandbox")
JAVA_DIR = PREBUILT / "java"
JAVAC_ARCHIVE = JAVA_DIR / "javac.jsa"
_ARCHIVE_OPTION = f"-J-XX:SharedArchiveFile={JAVAC_ARCHIVE}"
# Java's warm programs, compiled into one jar: the warm compile's main class and the run's agent.
JAVA_WARM_DIR = JAVA_DIR / "warm"
JAVA_WARM_JAR = JAVA_WARM_DIR / "warm.jar"
JAVA_WARM_SOURCES = Path(__file__).with_name("java")
_JAVA_WARM_MANIFEST = "Manifest-Version: 1.0\nPremain-Class: runbox.warm.WarmRun\n\n"
CPP_HEADERS_DIR = PREBUILT / "cpp-pch"
_HEADERS_OPTION = f"-I{CPP_HEADERS_DIR}"
# g++ uses a precompiled header only for a program's first #include, found as NAME.gch in the
# include path before NAME itself: the one competitive programmers start with, and the
# template's. Any other first header is read from /usr/include as before.
CPP_HEADERS = ("bits/stdc++.h", "iostream")
TYPESCRIPT_DIR = PREBUILT / "typescript"
TSC_SNAPSHOT = TYPESCRIPT_DIR / "tsc.blob"
TSC_SNAPSHOT_BUILDER = Path(__file__).with_name("tsc_snapshot.js")
_TYPESCRIPT = Path("/opt/typescript/lib/node_modules")

# A program that takes javac through what most submissions use (generics, lambdas, streams,
# records, switch expressions, inner classes, a warning's diagnostics), so their classes are in
# the archive; a class it misses is loaded from the JDK as before.
JAVA_TRAINING = """\
import java.util.*;
import java.util.function.*;
import java.util.stream.*;
import java.io.*;

public class Main {
    record Point(int x, int y) {}
    interface Shape { double area(); }
    static final class Square implements Shape {
        private final double side;
        Square(double side) { this.side = side; }
        public double area() { return side * side; }
    }
    enum Color { RED, GREEN }

    static <T extends Comparable<T>> T max(List<T> xs) {
        T best = xs.get(0);
        for (T x : xs) if (x.compareTo(best) > 0) best = x;
        return best;
    }

    @SuppressWarnings("unused")
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        Map<String, List<Integer>> groups = new HashMap<>();
        List raw = new ArrayList();
        raw.add(1);
        int[] arr = {3, 1, 2};
        Arrays.sort(arr);
        String s = switch (Color.RED) { case RED -> "r"; case GREEN -> "g"; };
        Function<Integer, Integer> twice = x -> x * 2;
        List<Integer> xs = IntStream.range(0, 10).boxed().map(twice).collect(Collectors.toList());
        Shape sq = new Square(2);
        Runnable r = new Runnable() { public void run() { System.out.println(sq.area()); } };
        r.run();
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%d %s %s%n", max(xs), new Point(1, 2), s));
        try {
            Optional.ofNullable(groups.get("a")).orElseThrow();
        } catch (NoSuchElementException e) {
            System.out.print(sb);
        }
    }
}
"""


def _stamp(directory: Path, *parts: str) -> Path:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return directory / f".built-{digest}"


def _fresh_dir(directory: Path) -> None:
    """The artifact's directory, root's alone: the sandbox users only ever read it."""
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chown(directory, 0, 0)
    directory.chmod(0o755)


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=600, check=False,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})  # fmt: skip
    if done.returncode != 0:
        raise SandboxError(f"{argv[0]} failed ({done.returncode}): "
                           f"{(done.stdout + done.stderr).decode(errors='replace')[-2000:]}")  # fmt: skip


def build_javac_archive(lang: Language) -> bool:
    """The CDS archive javac maps at start (JDK >= 13 dynamic archive on top of the JDK's own):
    its classes come parsed and verified instead of read from the module image. True if built."""
    assert lang.compile is not None
    command = lang.command(lang.compile, lang.default_memory_mb)
    if _ARCHIVE_OPTION not in command:
        return False
    stamp = _stamp(JAVA_DIR, lang.version, *command)
    if stamp.exists() and JAVAC_ARCHIVE.exists():
        return False
    _fresh_dir(JAVA_DIR)
    tmp_archive = JAVA_DIR / f".javac.jsa.{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / lang.file_name).write_text(JAVA_TRAINING)
        dump = [f"-J-XX:ArchiveClassesAtExit={tmp_archive}" if part == _ARCHIVE_OPTION else part
                for part in command]  # fmt: skip
        try:
            _run(dump, Path(tmp))
            tmp_archive.chmod(0o644)
            tmp_archive.replace(JAVAC_ARCHIVE)
        finally:
            tmp_archive.unlink(missing_ok=True)
    for old in JAVA_DIR.glob(".built-*"):
        old.unlink()
    stamp.touch()
    return True


def build_java_warm(lang: Language) -> bool:
    """JAVA_WARM_JAR from the sources in sandbox/java, compiled by the JDK's javac (the agent
    uses the JDK's own copy of ASM, in java.base). True if built."""
    if lang.warm_compile is None and lang.warm_run is None:
        return False
    sources = sorted(JAVA_WARM_SOURCES.rglob("*.java"))
    stamp = _stamp(JAVA_WARM_DIR, lang.version, _JAVA_WARM_MANIFEST,
                   *(f"{s.relative_to(JAVA_WARM_SOURCES)}\0{s.read_text()}" for s in sources))  # fmt: skip
    if stamp.exists() and JAVA_WARM_JAR.exists():
        return False
    _fresh_dir(JAVA_DIR)
    _fresh_dir(JAVA_WARM_DIR)
    partial = JAVA_WARM_DIR / f".warm.jar.{os.getpid()}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            classes = Path(tmp)
            _run(["/usr/bin/javac", "--add-exports",
                  "java.base/jdk.internal.org.objectweb.asm=ALL-UNNAMED", "-encoding", "UTF-8",
                  "-d", str(classes), *map(str, sources)], classes)  # fmt: skip
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
                jar.writestr("META-INF/MANIFEST.MF", _JAVA_WARM_MANIFEST)
                for compiled in sorted(classes.rglob("*.class")):
                    jar.write(compiled, str(compiled.relative_to(classes)))
        partial.chmod(0o644)
        partial.replace(JAVA_WARM_JAR)
    finally:
        partial.unlink(missing_ok=True)
    for old in JAVA_WARM_DIR.glob(".built-*"):
        old.unlink()
    stamp.touch()
    return True


def build_cpp_headers(lang: Language) -> bool:
    """Each of CPP_HEADERS precompiled with the compile command's own flags (a .gch built with
    other -O, -std or -f flags is ignored by g++). True if built."""
    assert lang.compile is not None
    command = lang.command(lang.compile, lang.default_memory_mb)
    if _HEADERS_OPTION not in command:
        return False
    stamp = _stamp(CPP_HEADERS_DIR, lang.version, *command, *CPP_HEADERS)
    if stamp.exists():
        return False
    # The compiler and its code-generation flags: not the include path, output or source.
    flags = [part for part in command[1:] if part != _HEADERS_OPTION]
    out = flags.index("-o")
    del flags[out : out + 2]
    flags.remove(lang.file_name)
    _fresh_dir(CPP_HEADERS_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        for header in CPP_HEADERS:
            target = CPP_HEADERS_DIR / f"{header}.gch"
            _fresh_dir(target.parent)
            wrapper = Path(tmp) / "header.h"
            wrapper.write_text(f"#include <{header}>\n")
            partial = target.with_name(f".{target.name}.{os.getpid()}")
            try:
                _run([command[0], *flags, "-x", "c++-header", "-o", str(partial), str(wrapper)],
                     Path(tmp))  # fmt: skip
                partial.chmod(0o644)
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
    for old in CPP_HEADERS_DIR.glob(".built-*"):
        old.unlink()
    stamp.touch()
    return True


def build_tsc_snapshot(lang: Language) -> bool:
    """The Node.js startup snapshot of the TypeScript compiler, warmed with the compile
    command's own tsc options (see tsc_snapshot.js). True if built."""
    assert lang.compile is not None
    command = lang.command(lang.compile, lang.default_memory_mb)
    # /bin/sh -c SCRIPT tsc OPTION... main.ts: SCRIPT runs node with this snapshot.
    if command[:2] != ["/bin/sh", "-c"] or f"--snapshot-blob {TSC_SNAPSHOT}" not in command[2]:
        return False
    options = [part for part in command[4:] if part != lang.file_name]
    node = "/usr/bin/node"
    versions = [
        subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=60, check=False
        ).stdout,
        *(
            (_TYPESCRIPT / name / "package.json").read_text()
            for name in ("typescript", "@types/node")
        ),
        TSC_SNAPSHOT_BUILDER.read_text(),
    ]
    stamp = _stamp(TYPESCRIPT_DIR, *versions, *options)
    if stamp.exists() and TSC_SNAPSHOT.exists():
        return False
    _fresh_dir(TYPESCRIPT_DIR)
    partial = TYPESCRIPT_DIR / f".tsc.blob.{os.getpid()}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _run([node, "--snapshot-blob", str(partial), "--build-snapshot",
                  str(TSC_SNAPSHOT_BUILDER), str(_TYPESCRIPT / "typescript/lib/typescript.js"),
                  *options], Path(tmp))  # fmt: skip
        partial.chmod(0o644)
        partial.replace(TSC_SNAPSHOT)
    finally:
        partial.unlink(missing_ok=True)
    for old in TYPESCRIPT_DIR.glob(".built-*"):
        old.unlink()
    stamp.touch()
    return True


def build_all() -> tuple[list[str], list[str]]:
    """Build whatever is missing or stale: the artifacts built, and why others could not be
    (a compiler without its prebuilt file is slower, never wrong: provisioning goes on)."""
    builders = (("java", build_javac_archive, JAVAC_ARCHIVE),
                ("java", build_java_warm, JAVA_WARM_JAR),
                ("cpp", build_cpp_headers, CPP_HEADERS_DIR),
                ("typescript", build_tsc_snapshot, TSC_SNAPSHOT))  # fmt: skip
    built, failed = [], []
    for key, build, path in builders:
        lang = registry().get(key)
        if lang is None or not lang.available:
            continue
        try:
            if build(lang):
                built.append(str(path))
        except (OSError, subprocess.SubprocessError, SandboxError) as exc:
            failed.append(f"{path}: {exc}")
    return built, failed
