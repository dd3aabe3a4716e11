"""Small programs per language for the correctness suite: each case and what it must yield."""

from __future__ import annotations

# hello, echo (first stdin line back), compile error, runtime error, endless loop, memory hog
PROGRAMS: dict[str, dict[str, str]] = {
    "python": {
        "echo": "print(input())\n",
        "compile_error": "print('a'\n",
        "runtime_error": "raise ValueError('boom')\n",
        "loop": "while True:\n    pass\n",
        "memory": "x = bytearray(1 << 30)\nprint(len(x))\n",
    },
    "javascript": {
        "echo": "const l = require('fs').readFileSync(0, 'utf8').split('\\n')[0];\nconsole.log(l);\n",
        "compile_error": "console.log('a';\n",
        "runtime_error": "throw new Error('boom');\n",
        "loop": "for (;;) {}\n",
        "memory": "const a = [];\nfor (;;) a.push(new Array(1e6).fill(1.5));\n",
    },
    "typescript": {
        "echo": "import * as fs from 'fs';\nconst l: string = fs.readFileSync(0, 'utf8').split('\\n')[0];\nconsole.log(l);\n",
        "compile_error": "const n: number = 'not a number';\nconsole.log(n);\n",
        "runtime_error": "throw new Error('boom');\n",
        "loop": "for (;;) {}\n",
        "memory": "const a: number[][] = [];\nfor (;;) a.push(new Array(1e6).fill(1.5));\n",
    },
    "c": {
        "echo": "#include <stdio.h>\nint main(void){char b[256];if(fgets(b,256,stdin))fputs(b,stdout);return 0;}\n",
        "compile_error": "int main(void) { return undefined_name; }\n",
        "runtime_error": "#include <stdlib.h>\nint main(void){ abort(); }\n",
        "loop": "int main(void){ volatile unsigned long i = 0; for (;;) i++; }\n",
        "memory": "#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char*p=malloc(1<<24);if(!p)return 3;memset(p,1,1<<24);}}\n",
    },
    "cpp": {
        "echo": "#include <iostream>\n#include <string>\nint main(){std::string s;std::getline(std::cin,s);std::cout<<s<<std::endl;}\n",
        "compile_error": "int main() { std::cout << 1; }\n",
        "runtime_error": '#include <stdexcept>\nint main(){ throw std::runtime_error("boom"); }\n',
        "loop": "int main(){ volatile unsigned long i = 0; for (;;) i++; }\n",
        "memory": "#include <vector>\n#include <cstring>\nint main(){std::vector<char*> v;for(;;){char*p=new char[1<<24];std::memset(p,1,1<<24);v.push_back(p);}}\n",
    },
    "go": {
        "echo": 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n\nfunc main() {\n\ts := bufio.NewScanner(os.Stdin)\n\ts.Scan()\n\tfmt.Println(s.Text())\n}\n',
        "compile_error": "package main\n\nfunc main() {\n\tx := 1\n}\n",
        "runtime_error": 'package main\n\nfunc main() {\n\tpanic("boom")\n}\n',
        "loop": "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n",
        "memory": "package main\n\nvar keep [][]byte\n\nfunc main() {\n\tfor {\n\t\tb := make([]byte, 1<<24)\n\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\tkeep = append(keep, b)\n\t}\n}\n",
    },
    "java": {
        "echo": "import java.util.Scanner;\npublic class Main {\n  public static void main(String[] a) {\n    System.out.println(new Scanner(System.in).nextLine());\n  }\n}\n",
        "compile_error": 'public class Main {\n  public static void main(String[] a) { int x = "s"; }\n}\n',
        "runtime_error": 'public class Main {\n  public static void main(String[] a) { throw new RuntimeException("boom"); }\n}\n',
        "loop": "public class Main {\n  public static void main(String[] a) { long i = 0; while (true) { i++; } }\n}\n",
        "memory": "import java.util.*;\npublic class Main {\n  public static void main(String[] a) {\n    List<long[]> l = new ArrayList<>();\n    while (true) l.add(new long[1 << 20]);\n  }\n}\n",
    },
    "php": {
        "echo": "<?php\necho fgets(STDIN);\n",
        "compile_error": "<?php\necho 'a'\necho 'b';\n",
        "runtime_error": "<?php\nthrow new Exception('boom');\n",
        "loop": "<?php\nwhile (true) {}\n",
        "memory": "<?php\n$a = [];\nwhile (true) { $a[] = str_repeat('x', 1 << 20); }\n",
    },
    "ruby": {
        "echo": "puts gets\n",
        "compile_error": "puts(\n",
        "runtime_error": "raise 'boom'\n",
        "loop": "loop { }\n",
        "memory": "a = []\nloop { a << ('x' * (1 << 24)) }\n",
    },
    "rust": {
        "echo": 'use std::io::BufRead;\nfn main() {\n    let l = std::io::stdin().lock().lines().next().unwrap().unwrap();\n    println!("{}", l);\n}\n',
        "compile_error": 'fn main() {\n    let x: i32 = "s";\n}\n',
        "runtime_error": 'fn main() {\n    let v: Vec<i32> = Vec::new();\n    println!("{}", v[std::env::args().count() + 3]);\n}\n',
        "loop": "fn main() {\n    let mut i: u64 = 0;\n    loop { i = std::hint::black_box(i + 1); }\n}\n",
        "memory": "fn main() {\n    let mut v: Vec<Vec<u8>> = Vec::new();\n    loop { v.push(vec![1u8; 1 << 24]); }\n}\n",
    },
    "bash": {
        "echo": 'read -r line\necho "$line"\n',
        "compile_error": "if true; then\necho a\n",
        "runtime_error": "echo failing >&2\nexit 3\n",
        "loop": "while :; do :; done\n",
        "memory": "x=$(head -c 200000000 /dev/zero | tr '\\0' a)\necho ${#x}\n",
    },
}
