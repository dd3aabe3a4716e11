"""Infinite-loop detection: a pure check of a program's source, made before anything runs.

A loop is reported when its condition can never be false and nothing in its body can leave it:

- Python, from the AST: ``while`` with a constant-true test (``True``, ``1``, ``"x"``, ``not False``,
  ``1 == 1``: folded from the tree, never evaluated) and no ``break`` of its own, ``return``,
  ``raise``, ``yield``/``yield from``, ``assert False`` or call to ``sys.exit``, ``exit``, ``quit``,
  ``os._exit`` or ``os.abort`` (also under ``import ... as`` names). A ``break`` in a nested loop
  belongs to that loop (one in the nested loop's ``else`` belongs to ours); nested function and
  class bodies do not run as part of the loop. Statements after ``continue`` or ``break`` in the
  same block and branches of ``if`` on a constant are unreachable. ``await`` is not an exit.
- Other languages, lexically: comments and string/char literals are blanked first (same offsets,
  so line numbers are exact), then the loop headers below are matched and their bodies (matched
  braces, or the matching ``end``/``done``) searched for an exit word:

  ==========  ===============================================  =====================================
  language    loops                                            exits (besides ``break``)
  ==========  ===============================================  =====================================
  c, cpp      ``while(1)``, ``while(true)``, ``for(;;)``,      return goto exit _exit _Exit quick_exit
              ``do {...} while(1)``                            abort longjmp siglongjmp pthread_exit
                                                               thrd_exit; cpp also throw terminate
                                                               co_return
  java        same                                             return throw exit halt
  javascript, same                                             return throw exit abort yield
  typescript
  php         same (case-insensitive, ``$`` variables are      return throw exit die goto yield
              not keywords, text outside ``<?php`` is not
              code)
  go          ``for {``, ``for true {``, ``for ;; {``          return goto panic Exit Fatal Fatalf
                                                               Fatalln Panic Panicf Panicln Goexit
  rust        ``loop {``, ``while true {``                     return panic unreachable todo
                                                               unimplemented exit abort and ``?``
  ruby        ``loop do``, ``loop {``, ``while true``,         return raise fail exit abort throw and
              ``until false``                                  ``.next`` (StopIteration ends a loop)
  bash        ``while true; do``, ``while :; do``,             return exit
              ``until false; do`` (``;`` or newline)
  ==========  ===============================================  =====================================

Approximations, all chosen so that doubt means "not reported":

- An exit word counts wherever it appears in the body, even inside a nested function, lambda or
  subshell that does not end the loop; a labelled ``break`` (``break outer``, ``break 'a``,
  ``break 2``) counts for every enclosing loop.
- A plain ``break`` counts unless it sits in a nested loop (or ``switch``/``select``, whose
  ``break`` leaves only them; in Ruby any nested ``do``/``{`` block) that has a braced body;
  a nested loop without braces does not hide a ``break``.
- A C-style loop without braces is reported only when its body is one simple statement (or empty:
  ``while(1);``); PHP's ``while (true): ... endwhile;`` form is not checked.
- Ruby's modifier ``... while true`` (including ``begin ... end while true``) is not checked.
- A Bash loop whose output is piped (``done | head``) or that runs in the background (``done &``)
  is not reported: its reader or the script may end it.
- Regex literals (JavaScript, Ruby) are recognised from the preceding token; Ruby and Bash
  heredocs are blanked only when their terminator is found.

Every scan is linear in the source size: literal scanning jumps with simple character-class
regexes, and nested constructs are handled with explicit stacks rather than backtracking.
"""

from __future__ import annotations

import ast
import bisect
import functools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

RULE = "infinite_loop"


@dataclass(frozen=True)
class LoopFinding:
    """A loop that nothing in its body can leave."""

    rule: str
    line: int  # 1-based line of the loop header in the user's source
    construct: str  # the loop as written, e.g. "while True", "for(;;)", "loop {"

    @property
    def message(self) -> str:
        return (
            f"{self.rule}: line {self.line}: `{self.construct}` "
            "has no reachable break, return, raise or exit"
        )


def find_infinite_loop(language: str, source: str) -> LoopFinding | None:
    """The first infinite loop in source order, or None (also for an unknown language)."""
    if language == "python":
        return _python(source)
    lexical = _LEXICAL.get(language)
    if lexical is None:
        return None
    blanker, finder = lexical
    found = finder(blanker(source))
    if not found:
        return None
    position, construct = min(found)
    return LoopFinding(RULE, source.count("\n", 0, position) + 1, construct)


# --- Python -----------------------------------------------------------------------------------

_UNKNOWN = object()
_EXIT_ATTRIBUTES = {"sys": frozenset({"exit"}), "os": frozenset({"_exit", "abort"})}
_COMPARE: dict[type[ast.cmpop], Callable[[object, object], object]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,  # type: ignore[operator]
    ast.LtE: lambda a, b: a <= b,  # type: ignore[operator]
    ast.Gt: lambda a, b: a > b,  # type: ignore[operator]
    ast.GtE: lambda a, b: a >= b,  # type: ignore[operator]
}
_ARITHMETIC: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
}


def _python(source: str) -> LoopFinding | None:
    try:
        with warnings.catch_warnings():
            # Invalid escapes or `x is 1` in the user's code are theirs to hear about, not ours.
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the sandbox reports what does not compile
    blocks = _PythonExits.of(tree).blocks(tree)
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.While) and _truth(n.test) is True]
    for loop in sorted(loops, key=lambda n: (n.lineno, n.col_offset)):
        if blocks[id(loop.body)] == _BlockExits(False, False):
            test = ast.get_source_segment(source, loop.test) or ast.unparse(loop.test)
            test = " ".join(test.split())
            if len(test) > 40:
                test = test[:39] + "…"
            return LoopFinding(RULE, loop.lineno, f"while {test}")
    return None


def _fold(node: ast.expr, depth: int = 0) -> object:
    """The constant value of an expression made of literals, or _UNKNOWN."""
    if depth > 32:
        return _UNKNOWN
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        value = _fold(node.operand, depth + 1)
        if value is _UNKNOWN:
            return value
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(value, int | float) and not isinstance(node.op, ast.Invert):
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(value, int) and isinstance(node.op, ast.Invert):
            return ~value
        return _UNKNOWN
    if isinstance(node, ast.BoolOp):
        value = _UNKNOWN
        for operand in node.values:
            value = _fold(operand, depth + 1)
            if value is _UNKNOWN:
                return value
            if bool(value) is isinstance(node.op, ast.Or):
                return value  # short-circuit: the rest is never evaluated
        return value
    if isinstance(node, ast.Compare):
        left = _fold(node.left, depth + 1)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _fold(comparator, depth + 1)
            compare = _COMPARE.get(type(op))
            if left is _UNKNOWN or right is _UNKNOWN or compare is None:
                return _UNKNOWN
            try:
                if not compare(left, right):
                    return False
            except TypeError:
                return _UNKNOWN
            left = right
        return True
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        a, b = _fold(node.left, depth + 1), _fold(node.right, depth + 1)
        # Only small numbers: folding must stay cheap whatever the source says.
        if all(
            isinstance(v, float) or (isinstance(v, int) and v.bit_length() <= 64) for v in (a, b)
        ):
            return _ARITHMETIC[type(node.op)](a, b)  # type: ignore[arg-type]
    return _UNKNOWN


def _truth(node: ast.expr) -> bool | None:
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return True if any(not isinstance(e, ast.Starred) for e in node.elts) else None
    if isinstance(node, ast.Dict):
        return True if any(k is not None for k in node.keys) else None
    value = _fold(node)
    return None if value is _UNKNOWN else bool(value)


@dataclass(frozen=True)
class _BlockExits:
    """What a reachable statement of a block does, as seen from the loop around the block."""

    leaves: bool  # returns, raises, yields or exits: leaves every loop around it
    breaks: bool  # a `break` of the loop directly around the block


def _sub_blocks(
    stmt: ast.stmt, *, reachable_only: bool = False
) -> list[tuple[str, list[ast.stmt]]]:
    """The statement lists inside a statement, with their role for the loop around it.

    "same": a break there is the surrounding loop's; "loop": the body of a nested loop (its
    breaks are its own); "scope": a function or class body, which does not run here at all.
    """
    if isinstance(stmt, ast.If | ast.While):
        truth = _truth(stmt.test) if reachable_only else None
        blocks = (
            [] if truth is False else [("same" if isinstance(stmt, ast.If) else "loop", stmt.body)]
        )
        return blocks if truth is True else [*blocks, ("same", stmt.orelse)]
    if isinstance(stmt, ast.For | ast.AsyncFor):
        return [("loop", stmt.body), ("same", stmt.orelse)]
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [("scope", stmt.body)]
    if isinstance(stmt, ast.Try | ast.TryStar):
        handlers = [("same", h.body) for h in stmt.handlers]
        return [("same", stmt.body), *handlers, ("same", stmt.orelse), ("same", stmt.finalbody)]
    if isinstance(stmt, ast.Match):
        return [("same", case.body) for case in stmt.cases]
    # with, async with, and any statement a later Python adds
    return [
        ("same", value)
        for _, value in ast.iter_fields(stmt)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt)
    ]


@dataclass(frozen=True)
class _PythonExits:
    """What ends a Python program from inside a loop, with this module's import names."""

    functions: frozenset[str]  # bare names: exit, quit, `from sys import exit as stop`
    modules: dict[str, frozenset[str]]  # name bound to sys/os -> its exiting functions

    @classmethod
    def of(cls, tree: ast.Module) -> _PythonExits:
        functions = {"exit", "quit"}
        modules = dict(_EXIT_ATTRIBUTES)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in _EXIT_ATTRIBUTES:
                        modules[alias.asname or alias.name] = _EXIT_ATTRIBUTES[alias.name]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                attributes = _EXIT_ATTRIBUTES.get(node.module or "", frozenset())
                functions |= {a.asname or a.name for a in node.names if a.name in attributes}
        return cls(frozenset(functions), modules)

    def blocks(self, tree: ast.Module) -> dict[int, _BlockExits]:
        """What leaves each statement list of the tree, keyed by the list's id.

        One pass, children before parents, without recursion (elif chains nest deeply).
        """
        order: list[list[ast.stmt]] = []
        stack = [tree.body]
        while stack:
            block = stack.pop()
            order.append(block)
            stack += (sub for stmt in block for _, sub in _sub_blocks(stmt))
        found: dict[int, _BlockExits] = {}
        for block in reversed(order):
            found[id(block)] = self._block(block, found)
        return found

    def _block(self, block: list[ast.stmt], found: dict[int, _BlockExits]) -> _BlockExits:
        leaves = breaks = False
        for stmt in block:
            if isinstance(stmt, ast.Break):
                return _BlockExits(leaves, True)  # what follows never runs
            if isinstance(stmt, ast.Continue):
                break
            if isinstance(stmt, ast.Return | ast.Raise) or (
                isinstance(stmt, ast.Assert) and _truth(stmt.test) is False
            ):
                return _BlockExits(True, breaks)
            leaves |= any(
                self._calls_exit(child)
                for child in ast.iter_child_nodes(stmt)
                if not isinstance(child, ast.stmt)
            )
            for role, sub in _sub_blocks(stmt, reachable_only=True):
                if role != "scope":
                    leaves |= found[id(sub)].leaves
                if role == "same":
                    breaks |= found[id(sub)].breaks
        return _BlockExits(leaves, breaks)

    def _calls_exit(self, node: ast.AST) -> bool:
        """Whether evaluating an expression yields or calls an exiting function."""
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Lambda):
                continue  # its body runs when called, not here
            if isinstance(current, ast.Yield | ast.YieldFrom):
                return True
            if isinstance(current, ast.Call) and self._is_exit(current.func):
                return True
            stack += (
                child for child in ast.iter_child_nodes(current) if not isinstance(child, ast.stmt)
            )
        return False

    def _is_exit(self, func: ast.expr) -> bool:
        if isinstance(func, ast.Name):
            return func.id in self.functions
        return (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.attr in self.modules.get(func.value.id, frozenset())
        )


# --- Blanking comments and literals -----------------------------------------------------------

# (start, end, placeholder): the text is replaced by spaces, starting with "0" for a literal so
# that what follows still sees a value there.
_Span = tuple[int, int, bool]


@functools.lru_cache(maxsize=64)
def _regex(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _apply(source: str, spans: list[_Span]) -> str:
    parts: list[str] = []
    position = 0
    for start, end, placeholder in spans:
        if end <= start:
            continue
        parts += [source[position:start], "0" if placeholder else " ", " " * (end - start - 1)]
        position = end
    parts.append(source[position:])
    return "".join(parts)


def _quoted_end(
    text: str, start: int, quote: str, *, newline_ends: bool, escapes: bool = True
) -> int:
    """End (exclusive) of the literal opened at start; an unterminated one ends at the newline."""
    chars = re.escape(quote) + ("\\\\" if escapes else "") + ("\\n" if newline_ends else "")
    pattern = _regex(f"[{chars}]")
    position = start + 1
    while True:
        match = pattern.search(text, position)
        if match is None:
            return len(text)
        if match.group() == "\\":
            position = match.end() + 1
        elif match.group() == "\n":
            return match.start()
        else:
            return match.end()


def _line_end(text: str, start: int, *, continuation: bool = False) -> int:
    """End of the line containing start (before its newline), following backslash-newline."""
    position = start
    while True:
        newline = text.find("\n", position)
        if newline == -1:
            return len(text)
        if not continuation or not text[position:newline].rstrip("\r").endswith("\\"):
            return newline
        position = newline + 1


def _word_before(text: str, end: int) -> str:
    start = end
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return text[start:end]


def _code_before(text: str, end: int) -> tuple[str, str]:
    """The last non-blank character before end ("" at the start) and the word it ends, if any."""
    position = end
    while position > 0 and text[position - 1] in " \t\r\n":
        position -= 1
    if position == 0:
        return "", ""
    return text[position - 1], _word_before(text, position)


_REGEX_BEFORE = set("(,=:[!&|?{};+-*%<>~^")


def _regex_literal_end(text: str, start: int) -> int:
    """End of a /regex/ literal at start, or -1 if the line ends first (then it was a division)."""
    pattern = _regex(r"[\\/\[\]\n]")
    position, in_class = start + 1, False
    while True:
        match = pattern.search(text, position)
        if match is None or match.group() == "\n":
            return -1
        char, position = match.group(), match.end()
        if char == "\\":
            position += 1
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif not in_class:
            return position


def _c_family(
    *, preprocessor: bool, raw_strings: bool, text_blocks: bool, backticks: bool
) -> Callable[[str], str]:
    alternatives = [r"//", r"/\*", r'"""' if text_blocks else None, r"[\"']"]
    alternatives += [r"`" if backticks else None, r"^[ \t]*#" if preprocessor else None]
    code = _regex("|".join(a for a in alternatives if a), re.MULTILINE)

    def blank(text: str) -> str:
        spans: list[_Span] = []
        position = 0
        while (match := code.search(text, position)) is not None:
            token, start = match.group(), match.start()
            if token == "//" or token.endswith("#"):
                end = _line_end(text, start, continuation=preprocessor)
                spans.append((start, end, False))
            elif token == "/*":
                close = text.find("*/", start + 2)
                end = len(text) if close == -1 else close + 2
                spans.append((start, end, False))
            elif token == '"""':
                end = start + 3
                while (block := _regex(r'\\|"""').search(text, end)) is not None:
                    end = block.end() + (block.group() == "\\")
                    if block.group() == '"""':
                        break
                else:
                    end = len(text)
                spans.append((start, end, True))
            elif token == "`":
                close = text.find("`", start + 1)
                end = len(text) if close == -1 else close + 1
                spans.append((start, end, True))
            elif token == '"' and raw_strings and (raw := _cpp_raw_string_end(text, start)) > 0:
                end = raw
                spans.append((start, end, True))
            elif token == "'" and preprocessor and _word_before(text, start)[:1].isdigit():
                end = start + 1  # a digit separator: 1'000'000
            else:
                end = _quoted_end(text, start, token, newline_ends=True)
                spans.append((start, end, True))
            position = max(end, start + 1)
        return _apply(text, spans)

    return blank


class _HeredocLines:
    """A source's lines by their first word: heredoc terminators are found without rescanning."""

    def __init__(self, text: str) -> None:
        # (kind, word) -> starts and ends of the lines of that kind, in order. Kinds: "starts"
        # (the line begins with the word, end after it), "alone" (only the word, maybe
        # indented) and "column0" (only the word, not indented).
        self._lines: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        start = 0
        for line in text.split("\n"):
            content = line.rstrip("\r")
            stripped = content.lstrip(" \t")
            word = _regex(r"\w+").match(stripped)
            if word is not None:
                indent = len(content) - len(stripped)
                self._add("starts", word.group(), start, start + indent + word.end())
                if stripped.rstrip(" \t") == word.group():
                    self._add("alone", word.group(), start, start + len(content))
                    if indent == 0:
                        self._add("column0", word.group(), start, start + len(content))
            start += len(line) + 1

    def _add(self, kind: str, word: str, start: int, end: int) -> None:
        starts, ends = self._lines.setdefault((kind, word), ([], []))
        starts.append(start)
        ends.append(end)

    def terminator(self, kind: str, word: str, after: int) -> int:
        """End of the first line of that kind starting at or after `after`, or -1."""
        starts, ends = self._lines.get((kind, word), ([], []))
        index = bisect.bisect_left(starts, after)
        return ends[index] if index < len(starts) else -1


_Heredoc = tuple[_HeredocLines, str, str]  # the source's lines, terminator kind, word


def _heredoc_bodies(text: str, start: int, heredocs: list[_Heredoc], spans: list[_Span]) -> int:
    """Blank the bodies of the heredocs opened on the line that ends at start; their end."""
    for lines, kind, word in heredocs:
        end = lines.terminator(kind, word, start)
        if end == -1:
            break
        spans.append((start, end, False))
        start = end
    heredocs.clear()
    return start


def _cpp_raw_string_end(text: str, quote: int) -> int:
    """End of a C++ raw string R"delim(...)delim" whose quote is at `quote`, else -1."""
    prefix = _word_before(text, quote)
    if prefix not in ("R", "u8R", "uR", "UR", "LR"):
        return -1
    opening = _regex(r'"([^()\\\s"]{0,16})\(').match(text, quote)
    if opening is None:
        return -1
    close = text.find(")" + opening.group(1) + '"', opening.end())
    return len(text) if close == -1 else close + len(opening.group(1)) + 2


def _blank_javascript(text: str) -> str:
    spans: list[_Span] = []
    position = 0
    if text.startswith("#!"):
        position = _line_end(text, 0)
        spans.append((0, position, False))
    depths: list[int] = []  # brace depth inside each ${...} we are in, innermost last
    template_start = 0  # start of the outermost template literal while depths is not empty
    no_regex_until = -1

    def template(start: int) -> int:
        """Scan template text from start; push a depth at ${, record the span at the end."""
        close = _regex(r"\\|`|\$\{")
        position = start
        while (match := close.search(text, position)) is not None:
            if match.group() == "\\":
                position = match.end() + 1
                continue
            if match.group() == "${":
                depths.append(0)
            elif not depths:
                spans.append((template_start, match.end(), True))
            return match.end()
        spans.append((template_start, len(text), True))
        depths.clear()
        return len(text)

    while position < len(text):
        code = _regex(r"//|/\*|/|[\"'`{}]" if depths else r"//|/\*|/|[\"'`]")
        match = code.search(text, position)
        if match is None:
            break
        token, start = match.group(), match.start()
        end = match.end()
        if token == "{":
            depths[-1] += 1
        elif token == "}":
            if depths[-1] == 0:
                depths.pop()
                end = template(end)
            else:
                depths[-1] -= 1
        elif token == "`":
            if not depths:
                template_start = start
            end = template(end)
        elif token in ("//", "/*"):
            close = text.find("*/", start + 2)
            end = (
                _line_end(text, start) if token == "//" else len(text) if close == -1 else close + 2
            )
            if not depths:
                spans.append((start, end, False))
        elif token == "/":
            before, keyword = _code_before(text, start)
            if start > no_regex_until and (
                before == "" or before in _REGEX_BEFORE or keyword in _JS_REGEX_KEYWORDS
            ):
                regex_end = _regex_literal_end(text, start)
                if regex_end == -1:
                    no_regex_until = _line_end(text, start)
                else:
                    end = regex_end
                    if not depths:
                        spans.append((start, end, True))
        else:
            end = _quoted_end(text, start, token, newline_ends=True)
            if not depths:
                spans.append((start, end, True))
        position = end
    return _apply(text, spans)


_JS_REGEX_KEYWORDS = {
    "return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do",
    "else", "yield", "await",
}  # fmt: skip


def _blank_php(text: str) -> str:
    spans: list[_Span] = []
    opening = _regex(r"<\?(?:php\b|=)?", re.IGNORECASE)
    code = _regex(r"//|#(?!\[)|/\*|[\"'`]|<<<|\?>")
    lines: _HeredocLines | None = None
    position = 0
    while position < len(text):
        tag = opening.search(text, position)
        html_end = len(text) if tag is None else tag.end()
        spans.append((position, html_end, False))  # inline HTML is output, not code
        position = html_end
        while (match := code.search(text, position)) is not None:
            token, start = match.group(), match.start()
            if token == "?>":
                position = start
                break
            if token in ("//", "#"):
                end = _line_end(text, start)
                close_tag = text.find("?>", start, end)
                end = end if close_tag == -1 else close_tag
                spans.append((start, end, False))
            elif token == "/*":
                close = text.find("*/", start + 2)
                end = len(text) if close == -1 else close + 2
                spans.append((start, end, False))
            elif token == "<<<":
                end = start + 3
                heredoc = _regex(r"<<<[ \t]*([\"']?)([A-Za-z_]\w*)\1\r?\n").match(text, start)
                if heredoc is not None:
                    lines = lines or _HeredocLines(text)
                    close = lines.terminator("starts", heredoc.group(2), heredoc.end())
                    end = len(text) if close == -1 else close
                    spans.append((start, end, True))
            else:
                end = _quoted_end(text, start, token, newline_ends=False)
                spans.append((start, end, True))
            position = end
        else:
            position = len(text)
    return _apply(text, spans)


def _blank_rust(text: str) -> str:
    spans: list[_Span] = []
    code = _regex(r"//|/\*|\"|'|(?<!\w)[bc]?r#*\"")
    position = 0
    while (match := code.search(text, position)) is not None:
        token, start = match.group(), match.start()
        end = match.end()
        if token == "//":
            end = _line_end(text, start)
            spans.append((start, end, False))
        elif token == "/*":
            depth = 1  # Rust block comments nest
            while depth and (inner := _regex(r"/\*|\*/").search(text, end)) is not None:
                depth += 1 if inner.group() == "/*" else -1
                end = inner.end()
            end = len(text) if depth else end
            spans.append((start, end, False))
        elif token.endswith('"') and token != '"':
            closing = '"' + "#" * token.count("#")
            close = text.find(closing, end)
            end = len(text) if close == -1 else close + len(closing)
            spans.append((start, end, True))
        elif token == "'":
            if text[start + 1 : start + 2] == "\\":
                end = _quoted_end(text, start, "'", newline_ends=True)
                spans.append((start, end, True))
            elif text[start + 2 : start + 3] == "'":
                end = start + 3
                spans.append((start, end, True))
            # otherwise a lifetime or loop label: 'a, 'static, 'outer:
        else:
            end = _quoted_end(text, start, '"', newline_ends=False)
            spans.append((start, end, True))
        position = end
    return _apply(text, spans)


def _blank_ruby(text: str) -> str:
    spans: list[_Span] = []
    code = _regex(
        r"#|[\"'`]|%[qQwWiIrsx]?[!-/:-@\[-`{-~]|/|<<[~-]?(?:[\"'`]?[A-Za-z_])|^=begin\b|^__END__\r?$|\n",
        re.MULTILINE,
    )
    heredocs: list[_Heredoc] = []  # heredocs whose bodies start on the next line
    lines: _HeredocLines | None = None
    no_regex_until = -1
    position = 0
    while (match := code.search(text, position)) is not None:
        token, start = match.group(), match.start()
        end = match.end()
        if token == "\n":
            end = _heredoc_bodies(text, end, heredocs, spans)
        elif token == "#":
            end = _line_end(text, start)
            spans.append((start, end, False))
        elif token == "=begin":
            close = _regex(r"^=end\b.*$", re.MULTILINE).search(text, end)
            end = len(text) if close is None else close.end()
            spans.append((start, end, False))
        elif token.startswith("__END__"):
            end = len(text)
            spans.append((start, end, False))
        elif token.startswith("<<"):
            heredoc = _regex(r"<<([~-]?)([\"'`]?)([A-Za-z_]\w*)\2").match(text, start)
            end = start + 2
            if heredoc is not None and (
                heredoc.group(1) or heredoc.group(2) or heredoc.group(3).isupper()
            ):
                lines = lines or _HeredocLines(text)
                kind = "alone" if heredoc.group(1) else "column0"
                if lines.terminator(kind, heredoc.group(3), heredoc.end()) != -1:
                    heredocs.append((lines, kind, heredoc.group(3)))
                    end = heredoc.end()
                    spans.append((start, end, True))
        elif token == "/" or (token.startswith("%") and len(token) == 2 and not token[1].isalpha()):
            before, keyword = _code_before(text, start)
            value_before = before not in ("", "\n") and before not in _REGEX_BEFORE
            if (value_before and keyword not in _RUBY_REGEX_KEYWORDS) or start <= no_regex_until:
                end = start + 1  # a division or modulo
            elif token == "/":
                end = _regex_literal_end(text, start)
                if end == -1:
                    end, no_regex_until = start + 1, _line_end(text, start)
                else:
                    spans.append((start, end, True))
            else:
                end = _percent_literal_end(text, start + 1)
                spans.append((start, end, True))
        elif token.startswith("%"):
            end = _percent_literal_end(text, start + 2)
            spans.append((start, end, True))
        elif token == "'":
            end = _quoted_end(text, start, "'", newline_ends=False)
            spans.append((start, end, True))
        else:
            end = _interpolated_end(text, start, token)
            spans.append((start, end, True))
        position = end
    return _apply(text, spans)


_RUBY_REGEX_KEYWORDS = {
    "if",
    "elsif",
    "unless",
    "while",
    "until",
    "when",
    "and",
    "or",
    "not",
    "return",
}


def _percent_literal_end(text: str, opening: int) -> int:
    """End of a %w(...)-style literal whose delimiter is at `opening` (brackets nest)."""
    delimiter = text[opening]
    closing = {"(": ")", "[": "]", "{": "}", "<": ">"}.get(delimiter, delimiter)
    chars = (
        re.escape(delimiter) + re.escape(closing) if closing != delimiter else re.escape(delimiter)
    )
    pattern = _regex(f"[\\\\{chars}]")
    depth, position = 1, opening + 1
    while (match := pattern.search(text, position)) is not None:
        position = match.end()
        if match.group() == "\\":
            position += 1
        elif match.group() == closing:
            depth -= 1
            if depth == 0:
                return position
        else:
            depth += 1
    return len(text)


def _interpolated_end(text: str, start: int, quote: str) -> int:
    """End of a Ruby "..." or `...` literal, skipping #{...} code that may hold other literals."""
    # Stack of open literals (their quote) and interpolations (None, brace depth).
    stack: list[tuple[str | None, int]] = [(quote, 0)]
    position = start + 1
    while stack:
        quote_now, depth = stack[-1]
        if quote_now is not None:
            match = _regex(rf"\\|#\{{|{re.escape(quote_now)}").search(text, position)
            if match is None:
                return len(text)
            position = match.end()
            if match.group() == "\\":
                position += 1
            elif match.group() == "#{":
                stack.append((None, 0))
            else:
                stack.pop()
        else:
            match = _regex(r"[{}\"'`]").search(text, position)
            if match is None:
                return len(text)
            position = match.end()
            char = match.group()
            if char == "{":
                stack[-1] = (None, depth + 1)
            elif char == "}":
                if depth == 0:
                    stack.pop()
                else:
                    stack[-1] = (None, depth - 1)
            elif char == "'":
                position = _quoted_end(text, match.start(), "'", newline_ends=False)
            else:
                stack.append((char, 0))
    return position


def _blank_bash(text: str) -> str:
    spans: list[_Span] = []
    code = _regex(r"#|[\"'`\\\n]|(?<!<)<<(?!<)")
    heredocs: list[_Heredoc] = []
    lines: _HeredocLines | None = None
    position = 0
    while (match := code.search(text, position)) is not None:
        token, start = match.group(), match.start()
        end = match.end()
        if token == "\n":
            end = _heredoc_bodies(text, end, heredocs, spans)
        elif token == "#":
            if start == 0 or text[start - 1] in " \t\r\n;&|()":
                end = _line_end(text, start)
                spans.append((start, end, False))
        elif token == "\\":
            end = min(start + 2, len(text))
            spans.append((start, end, False))
        elif token == "<<":
            heredoc = _regex(r"<<(-?)[ \t]*(?:'(\w+)'|\"(\w+)\"|\\?([A-Za-z_]\w*))").match(
                text, start
            )
            if heredoc is not None:
                word = heredoc.group(2) or heredoc.group(3) or heredoc.group(4)
                lines = lines or _HeredocLines(text)
                kind = "alone" if heredoc.group(1) else "column0"
                if lines.terminator(kind, word, heredoc.end()) != -1:
                    heredocs.append((lines, kind, word))
                    end = heredoc.end()
                    spans.append((start, end, True))
        elif token == "'":
            ansi_c = start > 0 and text[start - 1] == "$"
            end = _quoted_end(text, start, "'", newline_ends=False, escapes=ansi_c)
            spans.append((start, end, True))
        elif token == "`":
            end = _quoted_end(text, start, "`", newline_ends=False)
            spans.append((start, end, True))
        else:
            end = _bash_double_quoted_end(text, start)
            spans.append((start, end, True))
        position = end
    return _apply(text, spans)


def _bash_double_quoted_end(text: str, start: int) -> int:
    """End of a "..." word part, skipping $(...) and ${...} that may hold their own quotes."""
    stack: list[tuple[str, int]] = [('"', 0)]  # ('"', 0) or (closing bracket, depth)
    position = start + 1
    while stack:
        kind, depth = stack[-1]
        if kind == '"':
            match = _regex(r'\\|"|\$\(|\$\{').search(text, position)
            if match is None:
                return len(text)
            position = match.end()
            if match.group() == "\\":
                position += 1
            elif match.group() == '"':
                stack.pop()
            else:
                stack.append((")" if match.group() == "$(" else "}", 0))
        else:
            opening = "(" if kind == ")" else "{"
            match = _regex(rf"\\|\"|'|{re.escape(opening)}|{re.escape(kind)}").search(
                text, position
            )
            if match is None:
                return len(text)
            position = match.end()
            char = match.group()
            if char == "\\":
                position += 1
            elif char == "'":
                position = _quoted_end(text, match.start(), "'", newline_ends=False, escapes=False)
            elif char == '"':
                stack.append(('"', 0))
            elif char == opening:
                stack[-1] = (kind, depth + 1)
            elif depth == 0:
                stack.pop()
            else:
                stack[-1] = (kind, depth - 1)
    return position


# --- Finding loops in blanked code ------------------------------------------------------------


@dataclass
class _Block:
    """An open block that a plain `break` leaves (a loop or switch), possibly a suspect loop."""

    position: int = -1  # offset of the loop header when this is a suspect loop, else -1
    construct: str = ""
    left: bool = False  # something inside leaves it
    left_all: bool = False  # something inside leaves every enclosing block too
    do_start: int = -1  # offset of `do` for a C-style do { ... } whose while(...) is to come


# Tokens of brace languages: words (identifiers, keywords, numbers) and single punctuation.
_TOKEN = re.compile(r"\w+|[^\w\s]")
_Token = tuple[str, int]


def _tokens(code: str, pattern: re.Pattern[str] = _TOKEN) -> list[_Token]:
    return [(m.group(), m.start()) for m in pattern.finditer(code)]


class _Exits:
    """The open blocks of a scan and what leaves them; closing a suspect loop judges it."""

    def __init__(self) -> None:
        self.loops: list[_Block] = []  # open blocks that capture a plain break, innermost last
        self.found: list[tuple[int, str]] = []

    def open(self, block: _Block) -> None:
        self.loops.append(block)

    def close(self, block: _Block, *, judge: bool = True) -> None:
        # Blocks close in the order they opened, so an open capturing block is on top.
        if self.loops and self.loops[-1] is block:
            self.loops.pop()
        if judge and block.position >= 0 and not block.left:
            self.found.append((block.position, block.construct))

    def own_break(self) -> None:
        if self.loops:
            self.loops[-1].left = True

    def leave_all(self) -> None:
        # Blocks below one already marked were marked with it, so this stays linear.
        for block in reversed(self.loops):
            if block.left_all:
                return
            block.left = block.left_all = True


@dataclass(frozen=True)
class _BraceLanguage:
    exits: frozenset[str]
    captures: frozenset[str]  # keywords whose braced body a plain break leaves
    parenthesised: bool  # C-style `while (...)` headers, rather than Go/Rust `for x {`
    case_insensitive: bool = False
    try_operator: bool = False  # Rust's `?` returns early


_C_EXITS = (
    "break return goto exit _exit _Exit quick_exit abort longjmp siglongjmp pthread_exit thrd_exit"
)
_C_LIKE = frozenset({"while", "for", "do", "switch"})
_BRACE_LANGUAGES = {
    "c": _BraceLanguage(frozenset(_C_EXITS.split()), _C_LIKE, True),
    "cpp": _BraceLanguage(
        frozenset(f"{_C_EXITS} throw terminate co_return".split()), _C_LIKE, True
    ),
    "java": _BraceLanguage(frozenset(["break", "return", "throw", "exit", "halt"]), _C_LIKE, True),
    "javascript": _BraceLanguage(
        frozenset(["break", "return", "throw", "exit", "abort", "yield"]), _C_LIKE, True
    ),
    "php": _BraceLanguage(
        frozenset(["break", "return", "throw", "exit", "die", "goto", "yield"]),
        _C_LIKE | {"foreach"},
        True,
        case_insensitive=True,
    ),
    "go": _BraceLanguage(
        frozenset(
            [
                "break",
                "return",
                "goto",
                "panic",
                "Exit",
                "Fatal",
                "Fatalf",
                "Fatalln",
                "Panic",
                "Panicf",
                "Panicln",
                "Goexit",
            ]
        ),
        frozenset({"for", "switch", "select"}),
        False,
    ),
    "rust": _BraceLanguage(
        frozenset(
            ["break", "return", "panic", "unreachable", "todo", "unimplemented", "exit", "abort"]
        ),
        frozenset({"loop", "while", "for"}),
        False,
        try_operator=True,
    ),
}
_BRACE_LANGUAGES["typescript"] = _BRACE_LANGUAGES["javascript"]
_BRACELESS_STOP = frozenset(
    {"if", "else", "for", "foreach", "while", "do", "switch", "try", "case", "default"}
)


def _brace_finder(language: _BraceLanguage) -> Callable[[str], list[tuple[int, str]]]:
    def find(code: str) -> list[tuple[int, str]]:
        tokens = _tokens(code)
        if language.case_insensitive:
            tokens = [(text.lower(), start) for text, start in tokens]
        texts = [text for text, _ in tokens] + ["", "", "", "", ""]  # room to look ahead
        closing = _matching_parentheses(texts)
        exits = _Exits()
        opening: dict[int, _Block] = {}  # index of a `{` -> the block it opens
        blocks: list[_Block | None] = []
        skip_while: set[int] = set()  # indices of the `while` ending a do-while
        pending: tuple[_Block, int] | None = None  # Go/Rust: the next `{` at this depth
        depth = 0  # parentheses and brackets
        for index, (text, start) in enumerate(tokens):
            if text in ("(", "["):
                depth += 1
            elif text in (")", "]"):
                depth = max(0, depth - 1)
            elif text == "{":
                block = opening.pop(index, None)
                if pending is not None and pending[1] == depth and block is None:
                    block = pending[0]
                pending = None
                blocks.append(block)
                if block is not None:
                    exits.open(block)
            elif text == "}":
                block = blocks.pop() if blocks else None
                if block is not None:
                    if block.do_start >= 0:
                        _close_do_while(block, texts, index, skip_while)
                    exits.close(block)
            elif text == "?" and language.try_operator:
                exits.leave_all()
            elif text in language.exits and not _is_variable(tokens, index):
                # Members count: System.exit, process.exit, os.Exit, log.Fatal.
                if text != "break":
                    exits.leave_all()
                elif language.try_operator and texts[index + 1] == "'":
                    exits.leave_all()  # break 'label
                elif not language.try_operator and texts[index + 1][:1].isalnum():
                    exits.leave_all()  # break label; break 2;
                else:
                    exits.own_break()
            elif text in language.captures and not _is_member(tokens, index, texts):
                if index in skip_while:
                    continue
                if language.parenthesised:
                    _parenthesised_header(index, start, texts, closing, opening, exits, skip_while)
                else:
                    block = _Block(position=-1)
                    after = texts[index + 1 : index + 4]
                    if (text, after[0]) in (("for", "{"), ("loop", "{")):
                        block = _Block(position=start, construct=f"{text} {{")
                    elif text in ("for", "while") and after[:2] == ["true", "{"]:
                        block = _Block(position=start, construct=f"{text} true {{")
                    elif text == "for" and after == [";", ";", "{"]:
                        block = _Block(position=start, construct="for ;; {")
                    pending = (block, depth)
        return exits.found

    return find


def _is_variable(tokens: list[_Token], index: int) -> bool:
    """Whether a word is a PHP variable ($exit) rather than a keyword."""
    return index > 0 and tokens[index - 1][0] == "$" and _adjacent(tokens, index - 1, index)


def _is_member(tokens: list[_Token], index: int, texts: list[str]) -> bool:
    """Whether a word is a member or variable name (x.while, $break, r#loop, ->exit) not a keyword."""
    if index == 0:
        return False
    before = texts[index - 1]
    adjacent = tokens[index - 1][1] + len(before) == tokens[index][1]
    return (
        before == "."
        or (adjacent and before in ("$", "#"))
        or (before == ">" and texts[index - 2] == "-")
    )


def _matching_parentheses(texts: list[str]) -> dict[int, int]:
    closing: dict[int, int] = {}
    open_at: list[int] = []
    for index, text in enumerate(texts):
        if text == "(":
            open_at.append(index)
        elif text == ")" and open_at:
            closing[open_at.pop()] = index
    return closing


_TRUE = frozenset({"1", "true"})


def _parenthesised_header(
    index: int,
    start: int,
    texts: list[str],
    closing: dict[int, int],
    opening: dict[int, _Block],
    exits: _Exits,
    skip_while: set[int],
) -> None:
    """Note the body of a C-style loop or switch; judge one without braces at once."""
    keyword = texts[index]
    if keyword == "do":
        if texts[index + 1] == "{":
            opening[index + 1] = _Block(do_start=start)
        else:
            # `do statement; while (...);`: the `while` is not a loop of its own.
            following = [
                i for i in range(index + 1, min(index + 64, len(texts))) if texts[i] == "while"
            ]
            skip_while.update(following[:1])
        return
    paren = index + 2 if keyword == "for" and texts[index + 1] == "await" else index + 1
    end = closing.get(paren)
    if texts[paren] != "(" or end is None:
        return
    construct = ""  # (no slicing of the header: nested headers would make that quadratic)
    if keyword == "while" and end == paren + 2 and texts[paren + 1] in _TRUE:
        construct = f"while({texts[paren + 1]})"
    elif keyword == "for" and end == paren + 3 and texts[paren + 1] == texts[paren + 2] == ";":
        construct = "for(;;)"
    body = texts[end + 1]
    if body == "{":
        opening[end + 1] = _Block(position=start if construct else -1, construct=construct)
    elif construct and body == ";":
        exits.found.append((start, construct))  # while(1); spins on an empty body
    elif construct and body not in (":", ""):
        # One statement without braces: judge it only when it is simple.
        position, depth = end + 1, 0
        while position < len(texts) and texts[position] != "":
            text = texts[position]
            if text in ("{", "}", "?") or text in _BRACELESS_STOP or text in _ALL_EXITS:
                return
            if text in ("(", "["):
                depth += 1
            elif text in (")", "]"):
                depth -= 1
            elif text == ";" and depth <= 0:
                exits.found.append((start, construct))
                return
            position += 1


def _close_do_while(block: _Block, texts: list[str], index: int, skip_while: set[int]) -> None:
    """At the `}` of do { ... }: a following while(1) makes it a suspect loop."""
    if texts[index + 1] != "while":
        return
    skip_while.add(index + 1)
    if texts[index + 2] == "(" and texts[index + 4] == ")" and texts[index + 3] in _TRUE:
        block.position = block.do_start
        block.construct = f"do {{ … }} while({texts[index + 3]})"


_ALL_EXITS = frozenset().union(*(lang.exits for lang in _BRACE_LANGUAGES.values()))

# Ruby ------------------------------------------------------------------------------------------

_RUBY_TOKEN = re.compile(r"\w+|\n|[^\w\s]")
_RUBY_STATEMENT_WORDS = frozenset({"then", "else", "do", "begin", "and", "or", "not", "ensure"})
_RUBY_EXITS = frozenset({"return", "raise", "fail", "exit", "abort", "throw"})
_RUBY_KEYWORDS = _RUBY_EXITS | {"next", "break", "do", "end", "{", "}", "loop", "while", "until"}
_RUBY_KEYWORDS |= {"for", "if", "unless", "case", "begin", "class", "module", "def"}


def _find_ruby(code: str) -> list[tuple[int, str]]:
    tokens = _tokens(code, _RUBY_TOKEN)
    texts = [text for text, _ in tokens] + ["", "", ""]
    closing = _matching_parentheses(texts)
    exits = _Exits()
    blocks: list[tuple[str, _Block | None]] = []  # ("end" or "}", block)
    open_count = {"end": 0, "}": 0}
    suspects: dict[int, _Block] = {}  # index of a `do` or `{` -> the suspect loop it opens
    loop_do = False  # the `do` of `while cond do` is part of the while
    for index, (text, start) in enumerate(tokens):
        if text in ("\n", ";"):
            loop_do = False
            continue
        if text not in _RUBY_KEYWORDS:
            continue
        before = texts[index - 1] if index else "\n"
        member = before == "." or (before == ":" and (index < 2 or texts[index - 2] == ":"))
        symbol_or_label = (_adjacent(tokens, index - 1, index) and before == ":") or (
            texts[index + 1] == ":"
            and _adjacent(tokens, index, index + 1)
            and texts[index + 2] != ":"
        )
        if text == "next" and before == ".":
            exits.leave_all()  # enumerator.next raises StopIteration, which ends `loop`
        elif text in _RUBY_EXITS:
            exits.leave_all()
        elif text == "break" and not member:
            exits.own_break()
        if member or symbol_or_label or before == "def":
            continue
        if text in ("{", "}", "do", "end"):
            closer = "}" if text in ("{", "}") else "end"
            if text in ("{", "do"):
                if text == "do" and loop_do:
                    loop_do = False
                    continue
                block = suspects.pop(index, _Block())
                blocks.append((closer, block))
                open_count[closer] += 1
                exits.open(block)
            elif open_count[closer]:
                while blocks:
                    kind, popped = blocks.pop()
                    open_count[kind] -= 1
                    if popped is not None:
                        exits.close(popped, judge=kind == closer)  # not judged when mismatched
                    if kind == closer:
                        break
        elif text == "loop" and texts[index + 1] in ("do", "{"):
            suspects[index + 1] = _Block(position=start, construct=f"loop {texts[index + 1]}")
        elif text in ("while", "until", "for", "if", "unless"):
            if not _ruby_statement_start(tokens, texts, index):
                continue  # a modifier: `x += 1 while x < 3`
            block = None
            if text in ("while", "until", "for"):
                loop_do = True
                block = _Block()
                condition = texts[index + 1]
                infinite = condition == "true" if text == "while" else condition in ("false", "nil")
                if text != "for" and infinite and texts[index + 2] in ("\n", ";", "do", ""):
                    block = _Block(position=start, construct=f"{text} {condition}")
                exits.open(block)
            blocks.append(("end", block))
            open_count["end"] += 1
        elif text in ("case", "begin", "class", "module") or (
            text == "def" and not _ruby_endless_def(tokens, texts, closing, index)
        ):
            blocks.append(("end", None))
            open_count["end"] += 1
    return exits.found


def _adjacent(tokens: list[_Token], left: int, right: int) -> bool:
    if left < 0 or right >= len(tokens):
        return False
    return tokens[left][1] + len(tokens[left][0]) == tokens[right][1]


def _ruby_statement_start(tokens: list[_Token], texts: list[str], index: int) -> bool:
    """Whether an if/while/... starts a statement (needing `end`) rather than modifying one."""
    if index == 0:
        return True
    before = texts[index - 1]
    if before in ("\n", ";") or before in _RUBY_STATEMENT_WORDS:
        return True
    if before[:1].isalnum() or before[:1] == "_" or before in (")", "]", "}"):
        return False
    # `save! if ok`, `empty? while x`: a method name's suffix, not an operator.
    suffix = (
        index >= 2 and texts[index - 2][-1:].isalnum() and _adjacent(tokens, index - 2, index - 1)
    )
    return not (before in ("!", "?") and suffix)


def _ruby_endless_def(
    tokens: list[_Token], texts: list[str], closing: dict[int, int], index: int
) -> bool:
    """Whether `def` opens a one-line method (`def name(args) = expr`) that has no `end`."""
    position = index + 1
    if texts[position] == "self" and texts[position + 1] == ".":
        position += 2
    position += 1  # the name, or the first character of an operator name
    while texts[position] in (
        "?",
        "!",
        "=",
        "<",
        ">",
        "+",
        "-",
        "*",
        "/",
        "%",
        "[",
        "]",
        "~",
        "^",
        "&",
        "|",
    ) and _adjacent(tokens, position - 1, position):
        position += 1
    if texts[position] == "(":
        end = closing.get(position)
        if end is None:
            return False
        position = end + 1
    return texts[position] == "=" and texts[position + 1] != "="


# Bash ------------------------------------------------------------------------------------------

_BASH_TOKEN = re.compile(r";;&?|;&|&&|\|\||\n|[;&|()<>]|[^\s;&|()<>]+")
_BASH_SEPARATORS = frozenset({";", ";;", ";;&", ";&", "&&", "||", "|", "&", "(", ")", "\n"})
_BASH_KEEP_COMMAND = frozenset(
    {"while", "until", "if", "then", "else", "elif", "!", "{", "time", "do"}
)
_BASH_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*(\[[^\]]*\])?\+?=")


@dataclass
class _Case:
    """An open `case ... esac`: its words are patterns, not commands, until `)`."""

    state: str = "head"  # head (before `in`), pattern, body


def _find_bash(code: str) -> list[tuple[int, str]]:
    tokens = _tokens(code, _BASH_TOKEN)
    texts = [text for text, _ in tokens] + ["", "", ""]
    exits = _Exits()
    blocks: list[_Block | _Case] = []  # open do ... done loops and case ... esac
    suspects: dict[int, _Block] = {}  # index of a `do` -> the suspect loop it opens
    command = True  # the next word is a command (where reserved words count)
    redirect = False  # the next word is a file name
    for index, (text, start) in enumerate(tokens):
        case = blocks[-1] if blocks and isinstance(blocks[-1], _Case) else None
        if text in _BASH_SEPARATORS:
            command = True
            if case is not None and text in (";;", ";;&", ";&"):
                case.state = "pattern"
            elif case is not None and text == ")" and case.state == "pattern":
                case.state = "body"
            continue
        if text in ("<", ">"):
            redirect = True
            continue
        if redirect:
            redirect = False
            continue
        if text == "break" and texts[index + 1].isdigit() and int(texts[index + 1][:4]) > 1:
            exits.leave_all()  # break 2
        elif text == "break":
            exits.own_break()
        elif text in ("return", "exit"):
            exits.leave_all()
        if case is not None and case.state != "body":
            if case.state == "head" and text == "in":
                case.state = "pattern"
            elif text == "esac" and command:
                blocks.pop()
                command = False
            continue  # the subject and patterns are not commands
        if not command:
            continue
        if text == "do":
            block = suspects.pop(index, _Block())
            blocks.append(block)
            exits.open(block)
        elif text == "done":
            while blocks and isinstance(blocks[-1], _Case):
                blocks.pop()
            loop = blocks.pop() if blocks else None
            if isinstance(loop, _Block):
                piped = _bash_piped_or_background(texts, index)
                exits.close(loop, judge=not piped)
        elif text == "case":
            blocks.append(_Case())
        elif text == "esac" and case is not None:
            blocks.pop()
        elif text in ("while", "until") and texts[index + 1] in ("true", ":", "false"):
            condition, separator = texts[index + 1], texts[index + 2]
            body = index + 3
            while texts[body] == "\n":
                body += 1
            infinite = (condition == "false") is (text == "until")
            if infinite and separator in (";", "\n") and texts[body] == "do":
                construct = f"{text} {condition}" + ("; do" if separator == ";" else "")
                suspects[body] = _Block(position=start, construct=construct)
        command = text in _BASH_KEEP_COMMAND or bool(_BASH_ASSIGNMENT.match(text))
    return exits.found


def _bash_piped_or_background(texts: list[str], done: int) -> bool:
    """Whether the loop ending at `done` feeds a pipe or runs in the background."""
    position = done + 1
    while texts[position] not in ("", ";", "\n", "|", "&", "&&", "||", ")", ";;"):
        position += 1
    return texts[position] in ("|", "&")


_LEXICAL: dict[str, tuple[Callable[[str], str], Callable[[str], list[tuple[int, str]]]]] = {
    "c": (_c_family(preprocessor=True, raw_strings=False, text_blocks=False, backticks=False),
          _brace_finder(_BRACE_LANGUAGES["c"])),
    "cpp": (_c_family(preprocessor=True, raw_strings=True, text_blocks=False, backticks=False),
            _brace_finder(_BRACE_LANGUAGES["cpp"])),
    "java": (_c_family(preprocessor=False, raw_strings=False, text_blocks=True, backticks=False),
             _brace_finder(_BRACE_LANGUAGES["java"])),
    "go": (_c_family(preprocessor=False, raw_strings=False, text_blocks=False, backticks=True),
           _brace_finder(_BRACE_LANGUAGES["go"])),
    "javascript": (_blank_javascript, _brace_finder(_BRACE_LANGUAGES["javascript"])),
    "typescript": (_blank_javascript, _brace_finder(_BRACE_LANGUAGES["typescript"])),
    "php": (_blank_php, _brace_finder(_BRACE_LANGUAGES["php"])),
    "rust": (_blank_rust, _brace_finder(_BRACE_LANGUAGES["rust"])),
    "ruby": (_blank_ruby, _find_ruby),
    "bash": (_blank_bash, _find_bash),
}  # fmt: skip
