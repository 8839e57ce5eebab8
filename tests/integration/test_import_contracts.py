"""The import-linter contracts hold, and break when the boundary is crossed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = [
    "config",
    "httpapi",
    "logistics",
    "monolithos",
    "notifications",
    "observability",
    "outbox",
    "strangler",
    "supplier_sim",
    "bench",
    "tests",
]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_the_contracts_hold_on_the_project(tmp_path):
    result = lint_imports(copy_of_the_project(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_logistics_importing_the_legacy_app_breaks_the_build(tmp_path):
    tree = copy_of_the_project(tmp_path)
    (tree / "logistics" / "shortcut.py").write_text("from monolithos.models import Order\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    assert "The logistics context never imports the legacy app BROKEN" in result.stdout
    assert "logistics.shortcut -> monolithos.models" in result.stdout


def test_the_legacy_app_reaching_past_the_public_api_breaks_the_build(tmp_path):
    tree = copy_of_the_project(tmp_path)
    (tree / "monolithos" / "shortcut.py").write_text(
        "from logistics.models import ShipmentRecord\n"
    )

    result = lint_imports(tree)

    assert result.returncode != 0
    assert "The legacy app uses logistics through logistics.public only BROKEN" in result.stdout


def test_a_new_order_entry_point_calling_the_god_object_breaks_the_build(tmp_path):
    tree = copy_of_the_project(tmp_path)
    selectors = tree / "monolithos" / "selectors.py"
    selectors.write_text(
        selectors.read_text() + "\nfrom monolithos.order_manager import OrderManager  # noqa\n"
    )

    result = lint_imports(tree)

    assert result.returncode != 0
    assert (
        "The new order entry points stand on their own: they never call the god object BROKEN"
        in result.stdout
    )
    assert "monolithos.selectors -> monolithos.order_manager" in result.stdout


def test_the_strangler_importing_an_app_breaks_the_build(tmp_path):
    tree = copy_of_the_project(tmp_path)
    (tree / "strangler" / "shortcut.py").write_text("from monolithos.models import Order\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    assert "The strangler imports no app: it knows routes and views only BROKEN" in result.stdout
    assert "strangler.shortcut -> monolithos.models" in result.stdout


def test_an_app_importing_the_strangler_breaks_the_build(tmp_path):
    tree = copy_of_the_project(tmp_path)
    (tree / "monolithos" / "shortcut.py").write_text("from strangler import registry\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    assert "No app imports the strangler (the root URLconf registers views) BROKEN" in result.stdout


def test_the_harness_importing_a_scenario_breaks_the_build(tmp_path):
    tree = copy_of_the_project(tmp_path)
    (tree / "bench" / "harness" / "shortcut.py").write_text("from bench.herd import main\n")

    result = lint_imports(tree)

    assert result.returncode != 0
    assert (
        "The bench's harness serves the scenarios and the system tests, and imports neither "
        "BROKEN" in " ".join(result.stdout.split())
    )
    assert "bench.harness.shortcut -> bench.herd" in result.stdout
