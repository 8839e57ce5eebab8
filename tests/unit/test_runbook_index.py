"""The runbook's index names every ADR and every alert, and only ones that exist."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT

RUNBOOK = ROOT / "docs" / "runbook.md"


def index_text() -> str:
    text = RUNBOOK.read_text()
    start = text.index("## Index")
    return text[start : text.index("\n## ", start + 1)]


def adr_numbers() -> set[str]:
    return {path.name[:4] for path in (ROOT / "docs" / "adr").glob("[0-9][0-9][0-9][0-9]-*.md")}


def alert_names() -> set[str]:
    names = set()
    for path in (ROOT / "ops" / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
    return names


def test_the_index_names_every_adr_and_no_other():
    named = set(re.findall(r"\b0\d{3}\b", index_text()))
    assert named == adr_numbers()


def watch_column() -> str:
    """The table's "metrics and alerts" column, every phase's cell."""
    rows = [line.split(" | ") for line in index_text().splitlines() if line.startswith("| [")]
    return "\n".join(row[2] for row in rows)


def test_the_index_names_every_alert_and_no_other():
    named = set(re.findall(r"`([A-Z][A-Za-z]+)`", watch_column()))
    assert named == alert_names()


def test_the_benchmarks_the_index_names_exist():
    scripts = set(re.findall(r"`(bench/[a-z_]+\.py)`", index_text()))
    assert scripts
    assert [script for script in sorted(scripts) if not (ROOT / script).is_file()] == []
