"""A tree's import fitness: cycles among its modules, coupling past a public API, contracts kept.

The graph comes from grimp (``probe.py``, in a child process with the tree on its path) and the
contracts from import-linter's own command line, run on the tree's own ``pyproject.toml``: the
first commit is judged by the contracts it had, the working tree by today's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROBE = Path(__file__).with_name("probe.py")
_SUMMARY = re.compile(r"Contracts: (\d+) kept, (\d+) broken\.")


class ProbeFailed(Exception):
    """A tree could not be measured (imported, linted, or its god object found): the message says
    why, with the child process's output when there is one."""


@dataclass(frozen=True)
class Coupling:
    source: str
    target: str
    present: bool  # both packages exist in the tree
    imports: int  # import statements from source into target
    past_public: tuple[str, ...]  # ``path:line statement`` of each import past the public API


@dataclass(frozen=True)
class ImportCycle:
    modules: tuple[str, ...]
    imports: tuple[str, ...]  # ``path:line statement`` of each import inside the cycle


@dataclass(frozen=True)
class Contracts:
    kept: int
    broken: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.kept + len(self.broken)


@dataclass(frozen=True)
class ImportFitness:
    modules: int
    imports: int
    cycles: tuple[ImportCycle, ...]
    couplings: tuple[Coupling, ...]
    contracts: Contracts

    def coupling(self, source: str, target: str) -> Coupling:
        return next(c for c in self.couplings if (c.source, c.target) == (source, target))

    @property
    def modules_in_cycles(self) -> int:
        return sum(len(cycle.modules) for cycle in self.cycles)


def child_environment(tree: Path, var_dir: Path) -> dict[str, str]:
    """Nothing of the caller's configuration: the tree's settings read their embedded defaults.

    The database URLs name PostgreSQL so that the connection settings read are the server's (as
    in production); they point at a closed port, and nothing connects.
    """
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(var_dir)),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(tree),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "MONOLITHOS_VAR_DIR": str(var_dir),
        "DATABASE_URL": "postgres://probe@127.0.0.1:1/probe",
        "LOGISTICS_DATABASE_URL": "postgres://probe@127.0.0.1:1/probe_logistics",
        "COLUMNS": "400",  # one contract per line in import-linter's output
    }


def run_probe(tree: Path, spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bossfight-probe-") as scratch:
        spec_file, result_file = Path(scratch, "spec.json"), Path(scratch, "result.json")
        spec_file.write_text(json.dumps({"tree": str(tree), **spec}))
        # -P: the probe's own directory stays off sys.path (its modules would shadow the tree's).
        done = subprocess.run(
            [sys.executable, "-P", str(PROBE), str(spec_file), str(result_file)],
            cwd=tree,
            env=child_environment(tree, Path(scratch)),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not result_file.exists():
            raise ProbeFailed(f"probing {tree} failed:\n{done.stdout}{done.stderr}")
        result: dict[str, Any] = json.loads(result_file.read_text())
        return result


def lint_contracts(tree: Path) -> Contracts:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    if command is None:
        raise ProbeFailed("lint-imports is not installed (import-linter, a dev dependency)")
    with tempfile.TemporaryDirectory(prefix="bossfight-lint-") as scratch:
        done = subprocess.run(
            [command, str(tree / "pyproject.toml"), "--no-cache", "--no-logo"],
            cwd=tree,
            env=child_environment(tree, Path(scratch)),
            capture_output=True,
            text=True,
            check=False,
        )
    summary = _SUMMARY.search(done.stdout)
    if summary is None:
        raise ProbeFailed(f"lint-imports on {tree} gave no verdict:\n{done.stdout}{done.stderr}")
    broken = tuple(
        line.removesuffix("BROKEN").strip()
        for line in done.stdout.splitlines()
        if line.rstrip().endswith("BROKEN")
    )
    return Contracts(kept=int(summary.group(1)), broken=broken)


def fitness_from(graph: dict[str, Any], contracts: Contracts) -> ImportFitness:
    return ImportFitness(
        modules=graph["modules"],
        imports=graph["imports"],
        cycles=tuple(
            ImportCycle(modules=tuple(c["modules"]), imports=tuple(c["imports"]))
            for c in graph["cycles"]
        ),
        couplings=tuple(
            Coupling(
                source=c["source"],
                target=c["target"],
                present=c["present"],
                imports=c["imports"],
                past_public=tuple(c["past_public"]),
            )
            for c in graph["couplings"]
        ),
        contracts=contracts,
    )


def coupling_spec(source: str, target: str, public: Sequence[str]) -> dict[str, Any]:
    return {"source": source, "target": target, "public": list(public)}
