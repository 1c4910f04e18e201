"""A small AST mutation tester: which line can be broken without a test noticing?

Usage (from the repository root, with the project's venv)::

    nice -n 15 .venv/bin/python tools/mutate.py securestore/message/header.py \
        --tests tests/message/test_header.py tests/message/test_tamper.py \
        [--func parse_header --func authenticate] [--lines 40-120] [--list] \
        [--json out.json] [--timeout 60]

Each mutant is written over the module in place (the original is restored after every run
and on interruption), then the given pytest selection runs with ``-x`` under a timeout. A
mutant is *killed* when the selection fails (or times out twice, the second time with three
times the timeout: on a loaded machine one slow run proves no hang), *survived* when it passes.

Operators: negate a comparison (``==``/``!=``, ``<``/``>=``, ``in``/``not in``, ``is``/
``is not``), move an ordering boundary (``<``/``<=``), swap ``and``/``or``, drop a ``not``,
drop a statement (``raise``, a call, an ``if``/``for``/``with`` block, ``continue``/``break``),
off-by-one on int constants (``n`` to ``n + 1``), and replace a return value with ``None``
(a boolean with its negation).  Docstrings, annotations, f-strings and ``TYPE_CHECKING``
blocks are left alone.  Not part of CI: run it by hand, read docs/mutation.md.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

NEGATE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BOUNDARY: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
}
DROPPABLE = (ast.Raise, ast.If, ast.For, ast.With, ast.Continue, ast.Break, ast.Assert)


@dataclass
class Mutant:
    """One textual replacement of a node's source span."""

    ident: int
    line: int
    end_line: int
    col: int
    end_col: int
    kind: str
    replacement: str
    original: str
    func: str
    status: str = "pending"
    seconds: float = 0.0


def _offsets(source: str) -> list[int]:
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


class Collector(ast.NodeVisitor):
    """Walks the module and records every mutation point with its source span."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.mutants: list[Mutant] = []
        self.func_stack: list[str] = []
        self._skip_ids: set[int] = set()

    def _add(self, node: ast.AST, kind: str, replacement: str) -> None:
        original = ast.get_source_segment(self.source, node) or ""
        self.mutants.append(
            Mutant(
                ident=len(self.mutants),
                line=node.lineno,  # type: ignore[attr-defined]
                end_line=node.end_lineno or node.lineno,  # type: ignore[attr-defined]
                col=node.col_offset,  # type: ignore[attr-defined]
                end_col=node.end_col_offset or 0,  # type: ignore[attr-defined]
                kind=kind,
                replacement=replacement,
                original=original,
                func=".".join(self.func_stack) or "<module>",
            )
        )

    def _skip_subtree(self, node: ast.AST | None) -> None:
        if node is not None:
            self._skip_ids.update(id(n) for n in ast.walk(node))

    def generic_visit(self, node: ast.AST) -> None:
        if id(node) in self._skip_ids:
            return
        super().generic_visit(node)

    # Scopes and skipped regions.
    def _visit_scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.func_stack.append(node.name)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self._skip_subtree(node.returns)
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                self._skip_subtree(arg.annotation)
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                self._skip_subtree(default)
        for deco in node.decorator_list:
            self._skip_subtree(deco)
        self.generic_visit(node)
        self.func_stack.pop()

    visit_FunctionDef = _visit_scope  # noqa: N815 - ast.NodeVisitor names
    visit_AsyncFunctionDef = _visit_scope  # noqa: N815 - ast.NodeVisitor names
    visit_ClassDef = _visit_scope  # noqa: N815 - ast.NodeVisitor names

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._skip_subtree(node.annotation)
        self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant):
            return  # docstring
        if isinstance(node.value, ast.Call | ast.Await):
            self._add(node, "drop-call", "pass")
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if test in ("TYPE_CHECKING", "typing.TYPE_CHECKING") or test == "__name__ == '__main__'":
            return
        self._add(node, "drop-if", "pass")
        self.generic_visit(node)

    def _stmt(self, node: ast.stmt) -> None:
        self._add(node, "drop-" + type(node).__name__.lower(), "pass")
        self.generic_visit(node)

    visit_Raise = _stmt  # noqa: N815 - ast.NodeVisitor names
    visit_For = _stmt  # noqa: N815 - ast.NodeVisitor names
    visit_With = _stmt  # noqa: N815 - ast.NodeVisitor names
    visit_Continue = _stmt  # noqa: N815 - ast.NodeVisitor names
    visit_Break = _stmt  # noqa: N815 - ast.NodeVisitor names
    visit_Assert = _stmt  # noqa: N815 - ast.NodeVisitor names

    # Expressions.
    def visit_Compare(self, node: ast.Compare) -> None:
        if len(node.ops) == 1:
            op = type(node.ops[0])
            for kind, table in (("negate", NEGATE), ("boundary", BOUNDARY)):
                if op in table:
                    new = ast.Compare(node.left, [table[op]()], node.comparators)
                    self._add(node, kind, "(" + ast.unparse(new) + ")")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other: ast.boolop = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add(node, "and-or", "(" + ast.unparse(ast.BoolOp(other, node.values)) + ")")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, "drop-not", "(" + ast.unparse(node.operand) + ")")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if type(node.value) is int:
            self._add(node, "int+1", "(" + repr(node.value + 1) + ")")

    def visit_Return(self, node: ast.Return) -> None:
        value = node.value
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            self.generic_visit(node)
            return
        if isinstance(value, ast.Constant) and isinstance(value.value, bool):
            self._add(value, "return-not", "(" + repr(not value.value) + ")")
        elif isinstance(value, ast.Compare | ast.BoolOp) or (
            isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not)
        ):
            self._add(value, "return-not", "(not (" + ast.unparse(value) + "))")
        else:
            self._add(value, "return-None", "(None)")
        self.generic_visit(node)


def collect(source: str) -> list[Mutant]:
    """Every mutant of ``source``, in source order."""
    collector = Collector(source)
    collector.visit(ast.parse(source))
    return collector.mutants


def apply(source: str, mutant: Mutant) -> str:
    """``source`` with the mutant's span replaced (the result must still parse)."""
    starts = _offsets(source)
    begin = starts[mutant.line - 1] + _byte_to_char(source, starts[mutant.line - 1], mutant.col)
    end = starts[mutant.end_line - 1] + _byte_to_char(
        source, starts[mutant.end_line - 1], mutant.end_col
    )
    mutated = source[:begin] + mutant.replacement + source[end:]
    ast.parse(mutated)
    return mutated


def _byte_to_char(source: str, line_start: int, byte_col: int) -> int:
    # AST columns are UTF-8 byte offsets.
    line = source[line_start:].split("\n", 1)[0]
    return len(line.encode()[:byte_col].decode())


def run_tests(tests: list[str], timeout: float) -> tuple[str, float]:
    """Run the selection in a fork of this process; 'passed', 'failed', 'timeout' or 'error'.

    The parent has imported pytest and the third-party libraries already (see
    :func:`preload`), so a run costs the tests, not the imports; the child drops every
    project module so that it imports the mutated source from disk.
    """
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            for name in list(sys.modules):
                if name.split(".")[0] in PROJECT:
                    del sys.modules[name]
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            args = ["-x", "-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts="]
            code = int(pytest.main([*args, *tests]))
        except BaseException:
            code = 99
        os._exit(code)
    deadline = start + timeout
    _CHILD[:] = [pid]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - start
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    result = {0: "passed", 1: "failed"}.get(code, "error")
    return result, time.monotonic() - start


#: The running child, killed with the parent (see :func:`_stop`).
_CHILD: list[int] = []


def _stop(*_: object) -> None:
    for pid in _CHILD:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    sys.exit(3)


#: Top-level packages re-imported in every run (the mutated module is among them).
PROJECT = {"securestore", "securestore_cli", "tests", "cli", "conftest"}


def preload() -> None:
    """Import pytest and the project's dependencies once, before the forks."""
    import pytest  # noqa: F401

    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    for name in ("securestore", "securestore.store", "securestore.audit", "tests.conftest"):
        try:
            __import__(name)
        except Exception:  # noqa: S112 - a preload is an optimisation only
            continue


def _selected(mutant: Mutant, funcs: list[str], lines: tuple[int, int] | None) -> bool:
    # A name selects that function (``Class.method`` or ``method``) or a whole class.
    if funcs and not any(
        mutant.func == f or mutant.func.endswith("." + f) or mutant.func.startswith(f + ".")
        for f in funcs
    ):
        return False
    return not (lines and not lines[0] <= mutant.line <= lines[1])


def main(argv: list[str] | None = None) -> int:
    """Mutate one module and run the selection per mutant; print survivors."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("module")
    parser.add_argument("--tests", nargs="+", required=True)
    parser.add_argument("-k", dest="keyword", help="pytest -k expression for the selection")
    parser.add_argument("--func", action="append", default=[])
    parser.add_argument("--lines")
    parser.add_argument("--only", help="comma-separated mutant ids")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--timeout", type=float)
    args = parser.parse_args(argv)

    if args.keyword:
        args.tests = [*args.tests, "-k", args.keyword]
    path = Path(args.module)
    original = path.read_text()
    stat = path.stat()
    lines = tuple(int(x) for x in args.lines.split("-")) if args.lines else None
    mutants = [m for m in collect(original) if _selected(m, args.func, lines)]  # type: ignore[arg-type]
    if args.only:
        wanted = {int(x) for x in args.only.split(",")}
        mutants = [m for m in mutants if m.ident in wanted]
    if args.list:
        for m in mutants:
            print(f"{m.ident:4d} L{m.line} {m.kind:12s} {m.func}: {m.original[:60]!r}")
        return 0

    sys.path.insert(0, os.getcwd())
    preload()
    status, seconds = run_tests(args.tests, timeout=600)
    if status != "passed":
        print(f"baseline selection does not pass ({status}); fix that first", file=sys.stderr)
        return 2
    timeout = args.timeout or max(20.0, 3 * seconds)
    print(f"baseline {seconds:.1f}s, {len(mutants)} mutants, timeout {timeout:.0f}s", flush=True)
    signal.signal(signal.SIGTERM, _stop)  # restore the module on kill
    try:
        for m in mutants:
            path.write_text(apply(original, m))
            result, m.seconds = run_tests(args.tests, timeout)
            if result == "timeout":
                # On a loaded machine a slow run is no proof of a hang: once more, longer.
                result, m.seconds = run_tests(args.tests, 3 * timeout)
            m.status = {"passed": "survived", "failed": "killed"}.get(result, result)
            mark = "SURVIVED" if m.status == "survived" else m.status
            print(f"{m.ident:4d} L{m.line} {m.kind:12s} {m.func}: {mark}", flush=True)
    finally:
        path.write_text(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    done = [m for m in mutants if m.status != "pending"]
    killed = sum(m.status in ("killed", "timeout", "error") for m in done)
    print(f"\n{path}: {len(done)} mutants, {killed} killed, {len(done) - killed} survived")
    for m in done:
        if m.status == "survived":
            print(f"  survived {m.ident} L{m.line} {m.kind} in {m.func}: {m.original[:70]!r}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(m) for m in done], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
