"""Infinite-loop detection: loops nothing can leave are caught, every other program passes."""

from __future__ import annotations

import time

import pytest

from processors.loops import LoopFinding, find_infinite_loop

# (language, source, line of the loop that must be reported)
CAUGHT = [
    ("python", "while True:\n    print('y')\n", 1),
    ("python", "import sys\nn = 0\nwhile 1:\n    n += 1\n", 3),
    ("python", "while not False:\n    pass\n", 1),
    ("python", "while 1 == 1 and 'x':\n    x = 2\n", 1),
    ("python", "while True:\n    for i in range(3):\n        break\n", 1),
    ("python", "while True:\n    while input():\n        break\n", 1),
    ("python", "for i in range(3):\n    print(i)\n    while True:\n        pass\n", 3),
    ("python", "while True:\n    def stop():\n        return 1\n    class C:\n        x = exit\n", 1),
    ("python", "while True:\n    continue\n    break\n", 1),
    ("python", "while True:\n    if False:\n        break\n", 1),
    ("python", "async def main():\n    while True:\n        await tick()\n", 2),
    ("python", "while True:\n    f = lambda: exit()\n    try:\n        f\n    finally:\n        pass\n", 1),
    ("python", "import re\ndigits = re.compile('\\d+')\nwhile True:\n    x = 1 is 1\n", 3),
    ("c", "int main(void) {\n    while (1) {\n        puts(\"break\");\n    }\n}\n", 2),
    ("c", "int main(void) {\n  for ( ; ; ) ;\n}\n", 2),
    ("c", "int main(void) {\n  int i = 0;\n  do { i++; } while (1);\n}\n", 3),
    ("c", "int main(void) {\n  while(1) i++;\n}\n", 2),
    ("cpp", "#include <iostream>\nint main() {\n  for (;;) {\n    std::cout << 'x'; // return\n  }\n}\n", 3),
    ("cpp", "int main() {\n  int c = 0;\n  while (true) {\n    switch (c) { case 1: break; }\n  }\n}\n", 3),
    ("java", "class Main {\n  public static void main(String[] a) {\n    while (true) {\n      System.out.println(\"exit\");\n    }\n  }\n}\n", 3),
    ("java", "class Main {\n  static void f() {\n    while (true) {\n      for (int i = 0; i < 3; i++) { if (i == 1) break; }\n    }\n  }\n}\n", 3),
    ("javascript", "let n = 0;\nwhile (true) {\n  n++; /* return */\n}\n", 2),
    ("javascript", "let n = 0;\nfor (;;) {\n  console.log(`break ${n + 1}`, /return/.test('x'));\n}\n", 2),
    ("typescript", "const xs: number[] = [];\n\nwhile (true) {\n  xs.push(xs.length);\n}\n", 3),
    ("typescript", "/* one\n two */\nconst s = `a\nb ${1}`;\nwhile (true) {}\n", 5),
    ("php", "<?php\n$i = 0;\nwhile (TRUE) {\n    $break = 1; # break\n    echo \"return\";\n}\n", 3),
    ("php", "<?php\nfor (;;) {\n    $x = <<<EOT\n  exit; }\n  EOT;\n}\n", 2),
    ("go", "package main\n\nfunc main() {\n\tfor {\n\t\tprintln(\"return\")\n\t}\n}\n", 4),
    ("go", "package main\n\nfunc main() {\n\tch := make(chan int)\n\tfor {\n\t\tselect {\n\t\tcase <-ch:\n\t\t\tbreak\n\t\t}\n\t}\n}\n", 5),
    ("rust", "fn main() {\n    let mut n = 0u64;\n    loop {\n        n += 1; // break\n    }\n}\n", 3),
    ("rust", "fn f<'a>(s: &'a str) {}\nfn main() {\n    let c = '}';\n    loop {\n        f(r#\"break\"#);\n    }\n}\n", 4),
    ("ruby", "i = 0\nloop do\n  i += 1 # break\nend\n", 2),
    ("ruby", "while true\n  puts 'break'\nend\n", 1),
    ("ruby", "loop do\n  [1, 2].each do |x|\n    break if x > 1\n  end\nend\n", 1),
    ("ruby", "x = 0\nloop { puts \"#{x} break\" }\n", 2),
    ("ruby", "=begin\nbreak\n=end\ns = <<~EOS\n  break\nEOS\nloop do\nend\n", 7),
    ("bash", "#!/bin/bash\nwhile true; do\n  echo 'break'\ndone\n", 2),
    ("bash", "while :; do\n  sleep 1 # exit\ndone\n", 1),
    ("bash", "n=0\nwhile true\ndo\n  n=$((n+1))\ndone\n", 2),
    ("bash", "while true; do\n  for i in 1 2; do\n    break\n  done\ndone\n", 1),
    ("bash", "x=1\nwhile true; do\n  echo \"$(exit 1) ${x:-\"done\"}\"\ndone\n", 2),
]  # fmt: skip

# (language, source): programs with loops that end, or with loops only in comments and strings.
PASSING = [
    ("python", "while True:\n    line = input()\n    if line == 'quit':\n        break\n    print(line)\n"),
    ("python", "def main():\n    while True:\n        return 1\n"),
    ("python", "while True:\n    try:\n        x = input()\n    except EOFError:\n        break\n"),
    ("python", "while True:\n    raise SystemExit(0)\n"),
    ("python", "import sys\nwhile True:\n    if input() == 'q':\n        sys.exit()\n"),
    ("python", "import sys as s\nwhile True:\n    s.exit(1)\n"),
    ("python", "from os import _exit as stop\nwhile 1:\n    stop(0)\n"),
    ("python", "# while True:\ns = 'while True: pass'\nprint(s)\n"),
    ("python", "i = 0\nwhile i < 10:\n    i += 1\nwhile False:\n    pass\n"),
    ("python", "def numbers():\n    n = 0\n    while True:\n        yield n\n        n += 1\n"),
    ("python", "while True:\n    match input():\n        case 'q':\n            break\n"),
    ("python", "while True:\n    for x in []:\n        pass\n    else:\n        break\n"),
    ("python", "while True:\n    with open('f') as f:\n        if f.read():\n            quit()\n"),
    ("c", "#include <stdio.h>\nint main(void) {\n  for (;;) {\n    if (getchar() == EOF) break;\n  }\n  return 0;\n}\n"),
    ("c", "/* while(1){} */\nint main(void) { puts(\"while(true){}\"); char c = '{'; return 0; }\n"),
    ("c", "#define FOREVER for(;;)\nint main(void) { int i; for (i = 0; i < 10; i++) {} return 0; }\n"),
    ("c", "int main(void) {\n  for (;;) {\n    switch (getchar()) { case -1: goto out; }\n  }\nout:\n  return 0;\n}\n"),
    ("cpp", "int main() { int n = 0; while (true) { if (++n > 3) return 0; } }\n"),
    ("cpp", "auto s = R\"x(while(1){ )x\";\nint n = 1'000;\nint main() { while (true) { if (n--) continue; break; } }\n"),
    ("java", "class M { public static void main(String[] a) { int i = 0; while (true) { if (i++ > 3) { break; } } } }\n"),
    ("java", "class M { public static void main(String[] a) { while (true) { System.exit(0); } } }\n"),
    ("java", "class M { void f() { outer: while (true) { for (;;) { break outer; } } } }\n"),
    ("java", "class M { String s = \"\"\"\n  while (true) { \"\n  \"\"\"; void f() { do { break; } while (true); } }\n"),
    ("javascript", "const queue = [1, 2];\nwhile (queue.length) {\n  queue.pop();\n}\n"),
    ("javascript", "while (true) {\n  if (Math.random() > 0.5) process.exit(0);\n}\n"),
    ("javascript", "const re = /\"'/;\nconst s = `while(true){ ${'}'} }`;\nfor (;;) { break; }\n"),
    ("javascript", "function* ids() {\n  let i = 0;\n  while (true) yield i++;\n}\n"),
    ("typescript", "function first(xs: number[]): number {\n  for (;;) {\n    return xs[0];\n  }\n}\n"),
    ("typescript", "async function poll(): Promise<void> {\n  while (true) {\n    try { await tick(); } catch (e) { throw e; }\n  }\n}\n"),
    ("php", "<?php\n$x = 3;\nwhile ($x) {\n    $x--;\n}\n"),
    ("php", "<p>while(true){}</p>\n<?php echo 1; ?>\n<p>for(;;){}</p>\n"),
    ("php", "<?php\n// while (true) {\nwhile (true) {\n    die('done');\n}\n"),
    ("go", "package main\n\nfunc main() {\n\tfor i := 0; i < 3; i++ {\n\t\tprintln(i)\n\t}\n}\n"),
    ("go", "package main\n\nfunc main() {\n\tn := 0\n\tfor {\n\t\tn++\n\t\tif n > 3 {\n\t\t\treturn\n\t\t}\n\t}\n}\n"),
    ("go", "package main\n\nimport \"os\"\n\nvar s = `for {}`\n\nfunc main() {\n\tfor {\n\t\tos.Exit(0)\n\t}\n}\n"),
    ("rust", "fn main() {\n    let mut n = 0;\n    let v = loop {\n        n += 1;\n        if n == 3 { break n * 2; }\n    };\n    println!(\"{}\", v);\n}\n"),
    ("rust", "fn read() -> Result<(), String> {\n    let s = r#\"loop {}\"#;\n    loop {\n        s.parse::<i32>().map_err(|e| e.to_string())?;\n    }\n}\n"),
    ("rust", "fn main() {\n    'outer: loop {\n        loop {\n            break 'outer;\n        }\n    }\n}\n"),
    ("ruby", "s = \"while true\"\nputs s\n"),
    ("ruby", "loop do\n  line = gets\n  break unless line\nend\n"),
    ("ruby", "while true\n  x = gets\n  break if x.nil?\nend\n"),
    ("ruby", "loop do\n  puts \"a\" if true\n  if $stdin.eof?\n    y = 1\n  end\n  x = [1].map { |v| v } while false\n  break\nend\n"),
    ("ruby", "=begin\nloop do\n=end\ntext = <<~EOS\n  loop do\nEOS\nenum = [1, 2].each\nloop do\n  puts enum.next\nend\n"),
    ("bash", "while read line; do\n  echo \"$line\"\ndone\n"),
    ("bash", "while true; do\n  read -r x || break\n  echo \"$x\"\ndone\n"),
    ("bash", "while true; do echo y; done | head -n 3\n"),
    ("bash", "# while true; do\necho 'while true; do' \"done\"\n"),
    ("bash", "while true; do\n  case \"$1\" in\n    done) exit 0 ;;\n    *) shift ;;\n  esac\ndone\n"),
]  # fmt: skip


@pytest.mark.parametrize(("language", "source", "line"), CAUGHT)
def test_an_infinite_loop_is_reported_at_its_header(language: str, source: str, line: int) -> None:
    finding = find_infinite_loop(language, source)
    assert finding is not None, source
    assert (finding.rule, finding.line) == ("infinite_loop", line), source


@pytest.mark.parametrize(("language", "source"), PASSING)
def test_a_program_whose_loops_can_end_passes(language: str, source: str) -> None:
    assert find_infinite_loop(language, source) is None


def test_the_corpus_covers_every_language() -> None:
    languages = {"python", "c", "cpp", "java", "javascript", "typescript", "php", "go", "rust"}
    languages |= {"ruby", "bash"}
    assert {case[0] for case in CAUGHT} == languages
    assert {case[0] for case in PASSING} == languages
    assert len(CAUGHT) >= 24
    assert len(PASSING) >= 24


@pytest.mark.parametrize(
    ("language", "source", "construct"),
    [
        ("python", "while  True :\n    pass\n", "while True"),
        ("c", "int main(void) { for ( ; ; ) {} }", "for(;;)"),
        ("javascript", "while (1) {}", "while(1)"),
        ("c", "int main(void) { do { } while (1); }", "do { … } while(1)"),
        ("go", "package main; func main() { for {} }", "for {"),
        ("rust", "fn main() { loop {} }", "loop {"),
        ("ruby", "loop do\nend\n", "loop do"),
        ("bash", "while :; do sleep 1; done\n", "while :; do"),
    ],
)
def test_the_finding_names_the_loop_as_written(language: str, source: str, construct: str) -> None:
    assert find_infinite_loop(language, source) == LoopFinding("infinite_loop", 1, construct)


def test_the_message_says_where_and_why() -> None:
    finding = find_infinite_loop("python", "x = 1\n\nwhile True:\n    x += 1\n")
    assert finding is not None
    assert finding.message == (
        "infinite_loop: line 3: `while True` has no reachable break, return, raise or exit"
    )


def test_the_first_infinite_loop_in_the_source_is_reported() -> None:
    source = (
        "int main(void) {\n  for (;;) {\n    while (1) {}\n    break;\n  }\n  while (1) {}\n}\n"
    )
    finding = find_infinite_loop("c", source)
    assert finding is not None
    assert finding.line == 3


def test_a_python_program_that_does_not_parse_is_left_to_the_sandbox() -> None:
    assert find_infinite_loop("python", "while True\n    pass\n") is None
    assert find_infinite_loop("python", "x = " + "(" * 1000 + "1" + ")" * 1000) is None


def test_an_unknown_language_is_not_checked() -> None:
    assert find_infinite_loop("cobol", "PERFORM UNTIL 1 = 0\nEND-PERFORM.") is None
    assert find_infinite_loop("", "while True: pass") is None


LANGUAGES = ["python", "c", "cpp", "java", "javascript", "typescript", "php", "go", "rust"]
LANGUAGES += ["ruby", "bash"]
SIZE = 256 * 1024
PATHOLOGICAL = {
    "nested brackets": "(" * (SIZE // 2) + "{" * (SIZE // 4) + "[" * (SIZE // 4),
    "unclosed loop headers": "while(" * (SIZE // 6),
    "nested loop headers": "while(" * (SIZE // 12) + ")" * (SIZE // 12),
    "nested loops that all return": "for(;;){" * (SIZE // 16) + "return;" + "}" * (SIZE // 16),
    "nested ruby loops": "loop do\n" * (SIZE // 16) + "return\n" + "end\n" * (SIZE // 16),
    "nested bash loops": "while true; do\n" * (SIZE // 30) + "exit\n" + "done\n" * (SIZE // 30),
    "huge string literal": 'x = "' + "\\\"'`#{" * (SIZE // 6) + '"\n',
    "unterminated heredocs": "x = <<EOT\n<<<EOT\n" * (SIZE // 18),
    "heredocs of distinct words": "".join(f"cat <<W{i} <<<W{i}\n" for i in range(SIZE // 16)),
    "regex-like slashes": "x = (/ [" * (SIZE // 8),
    "deep python expression": "x = " + "-" * SIZE + "1\n",
    "nested python loops each with a break": "".join(
        f"{' ' * i}while True:\n{' ' * (i + 1)}if c: break\n" for i in range(98)
    )
    + " " * 98
    + "pass; " * (SIZE // 6),
    "long elif chain": "while True:\n    if x: pass\n" + "    elif x: pass\n" * (SIZE // 20),
}


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_input_is_checked_in_linear_time(name: str) -> None:
    """A guard against catastrophic backtracking or quadratic scans, not a benchmark: the CPU
    time of this process, which other processes on a loaded machine do not inflate (wall time
    did: seconds at a load average of 14 on two cores)."""
    source = PATHOLOGICAL[name][:SIZE].ljust(SIZE)
    for language in LANGUAGES:
        started = time.process_time()
        find_infinite_loop(language, source)
        elapsed = time.process_time() - started
        assert elapsed < 2, f"{language}: {elapsed:.2f} s on 256 KiB of {name}"
