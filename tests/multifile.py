"""One program of three files in every language, shared by the sandbox and the HTTP tests: an
entry point that uses a sibling file and a file in a subdirectory (each language's own way of
importing, including, requiring or sourcing them), and prints its command-line arguments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Program:
    """The entry point's source and the other files, by relative name."""

    source: str
    files: dict[str, str]


ARGS = ["a b", "{memory_mb}", "-x", "ü", ""]
STDOUT = "hello 5\n" + "|".join(ARGS) + "\n"

_C_MAIN = """#include <stdio.h>
#include "greet.h"
#include "lib/calc.h"

int main(int argc, char **argv) {
  printf("%s %d\\n", greeting(), add(2, 3));
  for (int i = 1; i < argc; i++) printf("%s%s", i > 1 ? "|" : "", argv[i]);
  puts("");
  return 0;
}
"""

PROGRAMS: dict[str, Program] = {
    "python": Program(
        "import sys\n\nfrom greet import greeting\nfrom lib.calc import add\n\n"
        'print(greeting(), add(2, 3))\nprint("|".join(sys.argv[1:]))\n',
        {
            "greet.py": 'def greeting() -> str:\n    return "hello"\n',
            "lib/calc.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
        },
    ),
    "javascript": Program(
        'const { greeting } = require("./greet");\nconst { add } = require("./lib/calc");\n'
        'console.log(greeting(), add(2, 3));\nconsole.log(process.argv.slice(2).join("|"));\n',
        {
            "greet.js": 'exports.greeting = () => "hello";\n',
            "lib/calc.js": "exports.add = (a, b) => a + b;\n",
        },
    ),
    "typescript": Program(
        'import { greeting } from "./greet";\nimport { add } from "./lib/calc";\n\n'
        'console.log(greeting(), add(2, 3));\nconsole.log(process.argv.slice(2).join("|"));\n',
        {
            "greet.ts": 'export function greeting(): string {\n  return "hello";\n}\n',
            "lib/calc.ts": "export function add(a: number, b: number): number {\n"
            "  return a + b;\n}\n",
        },
    ),
    "c": Program(
        _C_MAIN,
        {
            "greet.h": "const char *greeting(void);\n",
            "greet.c": '#include "greet.h"\n\nconst char *greeting(void) { return "hello"; }\n',
            "lib/calc.h": "int add(int a, int b);\n",
            "lib/calc.c": '#include "calc.h"\n\nint add(int a, int b) { return a + b; }\n',
        },
    ),
    "cpp": Program(
        '#include <iostream>\n#include "greet.hpp"\n#include "lib/calc.hpp"\n\n'
        "int main(int argc, char **argv) {\n"
        '  std::cout << greeting() << " " << calc::add(2, 3) << "\\n";\n'
        '  for (int i = 1; i < argc; i++) std::cout << (i > 1 ? "|" : "") << argv[i];\n'
        '  std::cout << "\\n";\n}\n',
        {
            "greet.hpp": "#include <string>\n\nstd::string greeting();\n",
            "greet.cpp": '#include "greet.hpp"\n\nstd::string greeting() { return "hello"; }\n',
            "lib/calc.hpp": "namespace calc {\nint add(int a, int b);\n}\n",
            "lib/calc.cc": '#include "calc.hpp"\n\nint calc::add(int a, int b) { return a + b; }\n',
        },
    ),
    "go": Program(
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n\t"strings"\n\n\t"prog/lib"\n)\n\n'
        "func main() {\n\tfmt.Println(greeting(), lib.Add(2, 3))\n"
        '\tfmt.Println(strings.Join(os.Args[1:], "|"))\n}\n',
        {
            "greet.go": 'package main\n\nfunc greeting() string { return "hello" }\n',
            "lib/calc.go": "package lib\n\n// Add adds.\nfunc Add(a, b int) int { return a + b }\n",
        },
    ),
    "java": Program(
        "import lib.Calc;\n\npublic class Main {\n"
        "    public static void main(String[] args) {\n"
        '        System.out.println(Greet.greeting() + " " + Calc.add(2, 3));\n'
        '        System.out.println(String.join("|", args));\n    }\n}\n',
        {
            "Greet.java": "public class Greet {\n"
            '    public static String greeting() { return "hello"; }\n}\n',
            "lib/Calc.java": "package lib;\n\npublic class Calc {\n"
            "    public static int add(int a, int b) { return a + b; }\n}\n",
        },
    ),
    "php": Program(
        '<?php\nrequire __DIR__ . "/greet.php";\nrequire __DIR__ . "/lib/calc.php";\n\n'
        'echo greeting(), " ", add(2, 3), "\\n";\necho implode("|", array_slice($argv, 1)), "\\n";\n',
        {
            "greet.php": '<?php\nfunction greeting(): string { return "hello"; }\n',
            "lib/calc.php": "<?php\nfunction add(int $a, int $b): int { return $a + $b; }\n",
        },
    ),
    "ruby": Program(
        'require_relative "greet"\nrequire_relative "lib/calc"\n\n'
        'puts "#{greeting} #{add(2, 3)}"\nputs ARGV.join("|")\n',
        {
            "greet.rb": 'def greeting\n  "hello"\nend\n',
            "lib/calc.rb": "def add(a, b)\n  a + b\nend\n",
        },
    ),
    "rust": Program(
        "mod greet;\n\nfn main() {\n"
        '    println!("{} {}", greet::greeting(), greet::calc::add(2, 3));\n'
        "    let args: Vec<String> = std::env::args().skip(1).collect();\n"
        '    println!("{}", args.join("|"));\n}\n',
        {
            # Rust's own layout: the module greet (greet.rs) has a submodule in greet/.
            "greet.rs": 'pub mod calc;\n\npub fn greeting() -> &\'static str {\n    "hello"\n}\n',
            "greet/calc.rs": "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
        },
    ),
    "bash": Program(
        'here="$(dirname "$0")"\nsource "$here/greet.sh"\nsource "$here/lib/calc.sh"\n\n'
        'echo "$(greeting) $(add 2 3)"\nIFS="|"\necho "$*"\n',
        {
            "greet.sh": "greeting() { echo hello; }\n",
            "lib/calc.sh": "add() { echo $(($1 + $2)); }\n",
        },
    ),
}
