"""Size and cyclomatic complexity of a source tree (radon), and the god object's shape (ast).

Reads files only, imports nothing from the tree, so the working tree and the first commit are
measured in one process by the same code. Migrations are left out: generated, never read.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from radon.complexity import cc_visit
from radon.raw import analyze
from radon.visitors import Function

GOD_OBJECT_FILE = "monolithos/order_manager.py"
GOD_OBJECT = "OrderManager"
# Cyclomatic complexity above this is radon's rank C or worse ("moderate" risk and up).
COMPLEX = 10

REACH_KINDS = ("ORM", "transaction", "HTTP", "mail")
_ORM_METHODS = frozenset({"save", "refresh_from_db"})  # active record: the ORM, from the object
_MAILERS = frozenset({"send_mail", "send_mass_mail", "EmailMessage"})


@dataclass(frozen=True)
class FunctionSize:
    path: str  # relative to the tree
    name: str  # ``Class.method`` for a method
    line: int
    lines: int
    complexity: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class GodObject:
    """The class everything went through: its size, what it is given, what it reaches itself."""

    path: str
    line: int
    lines: int
    methods: tuple[FunctionSize, ...]
    collaborators: tuple[str, ...]  # the constructor's parameters: what can be injected
    reaches: dict[str, int]  # infrastructure calls written in the class, by kind

    @property
    def complexity(self) -> int:
        return sum(method.complexity for method in self.methods)

    @property
    def most_complex(self) -> FunctionSize:
        return max(self.methods, key=lambda method: method.complexity)


@dataclass(frozen=True)
class CodeSize:
    source_lines: dict[str, int]  # per package: lines of code, comments and blanks left out
    functions: tuple[FunctionSize, ...]  # every function and method, most complex first
    god_object: GodObject | None

    @property
    def total_lines(self) -> int:
        return sum(self.source_lines.values())

    def complex_functions(self) -> list[FunctionSize]:
        return [function for function in self.functions if function.complexity > COMPLEX]

    @property
    def mean_complexity(self) -> float:
        if not self.functions:
            return 0.0
        return sum(function.complexity for function in self.functions) / len(self.functions)


def python_files(tree: Path, packages: Sequence[str]) -> list[Path]:
    return sorted(
        path
        for package in packages
        for path in (tree / package).rglob("*.py")
        if "migrations" not in path.relative_to(tree).parts
    )


def _functions(source: str, path: str) -> list[FunctionSize]:
    return [
        FunctionSize(
            path=path,
            name=f"{block.classname}.{block.name}" if block.classname else block.name,
            line=block.lineno,
            lines=block.endline - block.lineno + 1,
            complexity=block.complexity,
        )
        for block in cc_visit(source)
        if isinstance(block, Function)
    ]


def measure_code(tree: Path, packages: Sequence[str]) -> CodeSize:
    lines: Counter[str] = Counter({package: 0 for package in packages})
    functions: list[FunctionSize] = []
    god_object = None
    for file in python_files(tree, packages):
        relative = file.relative_to(tree).as_posix()
        source = file.read_text()
        lines[relative.split("/")[0]] += analyze(source).sloc
        functions.extend(_functions(source, relative))
        if relative == GOD_OBJECT_FILE:
            god_object = shape_of(source, relative, GOD_OBJECT)
    functions.sort(key=lambda f: (-f.complexity, -f.lines, f.path, f.line))
    return CodeSize(source_lines=dict(lines), functions=tuple(functions), god_object=god_object)


def shape_of(source: str, path: str, class_name: str) -> GodObject | None:
    """The class ``class_name`` in ``source``: methods, constructor parameters, direct reaches."""
    node = next(
        (
            node
            for node in ast.parse(source).body
            if isinstance(node, ast.ClassDef) and node.name == class_name
        ),
        None,
    )
    if node is None:
        return None
    methods = tuple(
        function
        for function in _functions(source, path)
        if function.name.startswith(f"{class_name}.")
    )
    return GodObject(
        path=path,
        line=node.lineno,
        lines=(node.end_lineno or node.lineno) - node.lineno + 1,
        methods=methods,
        collaborators=_constructor_parameters(node),
        reaches=_reaches(node),
    )


def _constructor_parameters(node: ast.ClassDef) -> tuple[str, ...]:
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
            arguments = statement.args
            names = [
                a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
            ]
            return tuple(names[1:])  # self
    return ()


def _reaches(node: ast.ClassDef) -> dict[str, int]:
    """Calls into the ORM, the transaction API, an HTTP client or the mailer, in the class body.

    What the class does itself instead of asking a collaborator: each is a place a fake cannot
    stand in for.
    """
    found: Counter[str] = Counter(dict.fromkeys(REACH_KINDS, 0))
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute):
            if child.attr == "objects":
                found["ORM"] += 1
            elif child.attr == "atomic" and _name(child.value) == "transaction":
                found["transaction"] += 1
        elif isinstance(child, ast.Call):
            function = child.func
            if isinstance(function, ast.Attribute):
                if function.attr in _ORM_METHODS:
                    found["ORM"] += 1
                elif _name(function.value) == "requests":
                    found["HTTP"] += 1
            elif isinstance(function, ast.Name) and function.id in _MAILERS:
                found["mail"] += 1
    return dict(found)


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else None
