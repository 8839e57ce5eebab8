"""docs/assessment.md cites the first commit truly and keeps the structure a review needs.

Its `file:line` references are to the repository's first commit, the system as inherited; each
is read back from that commit with git. A shallow clone has no first commit to read.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from bench.fight.assessment import END, START
from bench.fight.source_tree import first_commit, read_at
from tests.line_references import references, stale

ROOT = Path(__file__).resolve().parents[2]
ASSESSMENT = ROOT / "docs" / "assessment.md"
AREAS = (
    "Structure",
    "Database",
    "API design",
    "Service layer",
    "Scalability and performance",
    "Resilience",
    "Observability",
    "Configuration and secrets",
    "Concurrency and thread safety",
    "Technical debt",
)
RATINGS = re.compile(r"Priority \*\*P[123]\*\*.*effort \*\*[SML]\*\*.*impact:", re.S)


@cache
def inherited(path: str) -> str | None:
    return read_at(first_commit(), path)


def sections(text: str, level: str) -> dict[str, str]:
    parts = re.split(rf"^{level} (.+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_reference_shows_its_fragment_on_the_named_line_of_the_first_commit():
    found = references(ASSESSMENT.read_text())

    assert len(found) >= 40
    assert stale(found, inherited) == []


def test_each_of_the_ten_areas_has_its_findings_recommendation_and_ratings():
    findings = sections(sections(ASSESSMENT.read_text(), "##")["Findings"], "###")

    assert list(findings) == [f"{number}. {area}" for number, area in enumerate(AREAS, start=1)]
    for title, body in findings.items():
        assert references(body), title
        assert "**Current state.**" in body and "**Analysis.**" in body, title
        assert "**Recommendation.**" in body and "```" in body, title  # with a code example
        assert RATINGS.search(body), title


def test_the_review_has_its_summary_diagrams_matrix_path_and_guarantees():
    text = ASSESSMENT.read_text()
    parts = sections(text, "##")
    matrix = parts["Recommendations matrix"]
    recommendations = set(re.findall(r"^\| P[123] \| (R\d+)\.", matrix, re.M))
    guaranteed = set(re.findall(r"^\| (R\d+) \|", parts["Regression guarantees"], re.M))

    assert re.search(r"\*\*Grade: [A-F][+-]?\.\*\*", parts["Executive summary"])
    assert "**Verdict on production readiness:" in parts["Executive summary"]
    assert 3 <= parts["Diagrams"].count("```mermaid") <= 5
    assert text.count(START) == text.count(END) == 1  # the block the tangle round fills
    assert "| metric |" in parts["Metrics, before and after"]
    assert len(recommendations) >= 10
    assert guaranteed == recommendations
    assert set(re.findall(r"\bR\d+\b", parts["Critical path"])) <= recommendations
