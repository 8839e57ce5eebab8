"""One tree measured: its code (radon, ast), its imports (grimp, import-linter), what it deploys.

The tangle round measures the first commit and the working tree with this, so before and after
are the same measurement of two trees.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.fight.complexity import CodeSize, measure_code
from bench.fight.imports import (
    ImportFitness,
    coupling_spec,
    fitness_from,
    lint_contracts,
    run_probe,
)
from bench.fight.inventory import Inventory, compose_services, gunicorn_configs, inventory_from
from bench.fight.source_tree import ROOT

LEGACY, CONTEXT = "monolithos", "logistics"
PUBLIC = ("logistics", "logistics.public")
# Declared to import-linter only so that a contract can name them (the bench's harness imports
# no scenario and nothing of the tests): what runs the application, not the application.
TOOLING = ("bench", "tests")


@dataclass(frozen=True)
class TreeMeasure:
    label: str
    packages: tuple[str, ...]
    code: CodeSize
    imports: ImportFitness
    inventory: Inventory


def project_packages(root: Path = ROOT) -> tuple[str, ...]:
    """The project's packages, as today's import-linter configuration declares them, less the
    benchmarks and the tests (``TOOLING``)."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    declared = config["tool"]["importlinter"]["root_packages"]
    return tuple(package for package in declared if package not in TOOLING)


def measure_tree(tree: Path, label: str, declared: Sequence[str]) -> TreeMeasure:
    packages = tuple(p for p in declared if (tree / p / "__init__.py").exists())
    services = compose_services(tree)
    probe = run_probe(
        tree,
        {
            "packages": list(packages),
            "couplings": [
                coupling_spec(LEGACY, CONTEXT, PUBLIC),
                coupling_spec(CONTEXT, LEGACY, ()),
            ],
            "django": True,
            "gunicorn_configs": gunicorn_configs(services),
        },
    )
    return TreeMeasure(
        label=label,
        packages=packages,
        code=measure_code(tree, packages),
        imports=fitness_from(probe["graph"], lint_contracts(tree)),
        inventory=inventory_from(tree, packages, services, probe),
    )
