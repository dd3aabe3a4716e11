"""Programs of about 300 lines per compiled language, in the style of real submissions (standard
containers, generics, formatting), to check that compile bounds leave room for real programs."""

from __future__ import annotations

from collections.abc import Callable


def _repeat(count: int, block: Callable[[int], str]) -> str:
    return "".join(block(i) for i in range(count))


def _c(i: int) -> str:
    return f"""typedef struct {{ int key; double val; char name[16]; }} item{i};
static int cmp{i}(const void *a, const void *b) {{
    const item{i} *x = a, *y = b;
    return (x->val > y->val) - (x->val < y->val);
}}
static double f{i}(int n) {{
    item{i} *xs = malloc(sizeof(item{i}) * n);
    for (int j = 0; j < n; j++) {{
        xs[j].key = j; xs[j].val = sin(j * {i}.5);
        snprintf(xs[j].name, sizeof xs[j].name, "n%d", j);
    }}
    qsort(xs, n, sizeof(item{i}), cmp{i});
    double s = xs[0].val + strlen(xs[n - 1].name);
    free(xs);
    return s;
}}
"""


def _cpp(i: int) -> str:
    return f"""template <typename T>
struct Acc{i} {{
    map<string, vector<T>> groups;
    void add(const string& k, T v) {{ groups[k].push_back(v); }}
    T total() const {{
        T s{{}};
        for (auto& [k, vs] : groups) s += accumulate(vs.begin(), vs.end(), T{{}});
        return s;
    }}
}};
long f{i}(int n) {{
    Acc{i}<long> a; unordered_set<int> seen; priority_queue<int> pq;
    for (int j = 0; j < n; ++j) {{ a.add(to_string(j % 7), j); seen.insert(j * {i}); pq.push(j); }}
    sort(begin(a.groups["1"]), end(a.groups["1"]), greater<>());
    return a.total() + (long)seen.size() + pq.top();
}}
"""


def _java(i: int) -> str:
    return f"""    static class Item{i} implements Comparable<Item{i}> {{
        final String name; final int value;
        Item{i}(String name, int value) {{ this.name = name; this.value = value; }}
        public int compareTo(Item{i} o) {{ return Integer.compare(value, o.value); }}
    }}
    static long f{i}(int n) {{
        List<Item{i}> xs = new ArrayList<>();
        for (int j = 0; j < n; j++) xs.add(new Item{i}("n" + j, (j * {i + 7}) % 13));
        Collections.sort(xs);
        Map<Integer, List<String>> byValue = xs.stream().collect(Collectors.groupingBy(
            x -> x.value, TreeMap::new, Collectors.mapping(x -> x.name, Collectors.toList())));
        return byValue.size() + xs.get(0).value + IntStream.range(0, n).filter(k -> k % 3 == 0).count();
    }}
"""


def _typescript(i: int) -> str:
    return f"""interface Shape{i} {{ area(): number; name: string }}
class Box{i} implements Shape{i} {{
    constructor(public name: string, private w: number, private h: number) {{}}
    area(): number {{ return this.w * this.h; }}
}}
function f{i}(n: number): number {{
    const xs: Shape{i}[] = [];
    for (let j = 0; j < n; j++) xs.push(new Box{i}(`b${{j}}`, j, {i} + 1));
    const byArea = new Map<number, string[]>();
    for (const x of xs) byArea.set(x.area(), [...(byArea.get(x.area()) ?? []), x.name]);
    return [...byArea.keys()].reduce((a, b) => a + b, 0);
}}
"""


def _rust(i: int) -> str:
    return f"""#[derive(Debug, Clone)]
struct Item{i} {{ name: String, value: i64 }}
impl fmt::Display for Item{i} {{
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {{ write!(f, "{{}}={{}}", self.name, self.value) }}
}}
fn f{i}(n: i64) -> i64 {{
    let mut xs: Vec<Item{i}> = (0..n)
        .map(|j| Item{i} {{ name: format!("n{{}}", j), value: (j * {i + 7}) % 13 }})
        .collect();
    xs.sort_by_key(|x| x.value);
    let mut groups: HashMap<i64, Vec<String>> = HashMap::new();
    for x in &xs {{ groups.entry(x.value).or_default().push(x.to_string()); }}
    groups.len() as i64 + xs.iter().map(|x| x.value).sum::<i64>()
}}
"""


def _go(i: int) -> str:
    return f"""type item{i} struct {{
	name  string
	value int
}}

func f{i}(n int) int {{
	xs := make([]item{i}, 0, n)
	for j := 0; j < n; j++ {{
		xs = append(xs, item{i}{{fmt.Sprintf("n%d", j), (j * {i + 7}) % 13}})
	}}
	sort.Slice(xs, func(a, b int) bool {{ return xs[a].value < xs[b].value }})
	groups := map[int][]string{{}}
	for _, x := range xs {{
		groups[x.value] = append(groups[x.value], strings.ToUpper(x.name))
	}}
	return len(groups) + xs[0].value
}}

"""


def _calls(count: int, fmt: str) -> str:
    return _repeat(count, lambda i: fmt.format(i=i, n=i + 10))


LARGE: dict[str, str] = {
    "c": "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n\n"
    + _repeat(20, _c)
    + "int main(void) {\n    double s = 0;\n"
    + _calls(20, "    s += f{i}({n});\n")
    + '    printf("%f\\n", s);\n    return 0;\n}\n',
    # <bits/stdc++.h>, as most competitive programmers write it: the heaviest header there is.
    "cpp": "#include <bits/stdc++.h>\nusing namespace std;\n\n"
    + _repeat(20, _cpp)
    + "int main() {\n    long s = 0;\n"
    + _calls(20, "    s += f{i}({n});\n")
    + '    cout << s << "\\n";\n}\n',
    "java": "import java.util.*;\nimport java.util.stream.*;\n\npublic class Main {\n"
    + _repeat(20, _java)
    + "    public static void main(String[] args) {\n        long s = 0;\n"
    + _calls(20, "        s += f{i}({n});\n")
    + "        System.out.println(s);\n    }\n}\n",
    "typescript": _repeat(24, _typescript)
    + "let s = 0;\n"
    + _calls(24, "s += f{i}({n});\n")
    + "console.log(s);\n",
    "rust": "use std::collections::HashMap;\nuse std::fmt;\n\n"
    + _repeat(20, _rust)
    + "fn main() {\n    let mut s = 0;\n"
    + _calls(20, "    s += f{i}({n});\n")
    + '    println!("{}", s);\n}\n',
    "go": 'package main\n\nimport (\n\t"fmt"\n\t"sort"\n\t"strings"\n)\n\n'
    + _repeat(18, _go)
    + "func main() {\n\ts := 0\n"
    + _calls(18, "\ts += f{i}({n})\n")
    + "\tfmt.Println(s)\n}\n",
}
