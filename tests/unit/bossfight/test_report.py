"""The report opens with nothing but itself: no asset is fetched from anywhere."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from bench.fight.charts import methods_before_after
from bench.fight.complexity import FunctionSize
from bench.fight.outcome import Defense, RoundResult, Table
from bench.fight.report import Run, render_html, render_markdown, write_report

RUN = Run(command="bench/bossfight.py --quick", commit="0" * 40, started="2026-12-03", seconds=1.0)


def method(name: str, complexity: int) -> FunctionSize:
    return FunctionSize("m/om.py", f"OM.{name}", 1, 10, complexity)


@pytest.fixture
def result() -> RoundResult:
    return RoundResult(
        name="tangle",
        title="The tangle",
        summary="cycles 1 -> 0",
        defenses=(
            Defense("no cycle", True, "0 now"),
            Defense("contracts <kept>", False, "1 broken: `a | b`"),
        ),
        tables=(Table.of("Fitness", ("metric", "before", "after"), [("cycles", 1, 0)]),),
        charts=(
            methods_before_after(
                "tangle-om",
                "OM per method",
                [method("validate", 29), method("price", 3)],
                [method("validate", 1), method("__init__", 3)],
            ),
        ),
        findings=("place_order still opens the database",),
    )


class Assets(HTMLParser):
    """Every attribute that would make a browser fetch something, and every tag."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.references += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href")]


def test_the_html_is_self_contained(result):
    page = render_html([result], RUN)
    assets = Assets()
    assets.feed(page)

    assert "svg" in assets.tags and "table" in assets.tags
    assert not {"script", "link", "img", "iframe"} & assets.tags
    assert assets.references  # the chart's own glyphs and clips, by fragment
    assert [r for r in assets.references if not r.startswith("#")] == []
    assert "url(http" not in page and "@import" not in page


def test_the_chart_has_its_title_axis_labels_and_units(result):
    chart = result.charts[0].svg

    assert chart.startswith("<svg")
    for text in ("OM per method", "cyclomatic complexity", "method", "inherited (total 32)"):
        # Text is drawn as paths; matplotlib keeps each string as a comment beside its glyphs.
        assert f"<!-- {text}" in chart


def test_verdicts_and_text_are_escaped_in_html_and_in_markdown(result):
    page = render_html([result], RUN)
    summary = render_markdown([result], RUN)

    assert "contracts &lt;kept&gt;" in page and "<code>a | b</code>" in page
    assert "FAILED" in page
    assert "TANGLE   FAILED  cycles 1 -> 0" in summary
    assert "| cycles | 1 | 0 |" in summary
    assert "![OM per method](tangle-om.svg)" in summary


def test_the_report_is_written_with_each_chart_beside_it(result, tmp_path):
    written = write_report([result], RUN, tmp_path / "out")

    assert [p.name for p in written] == ["report.html", "report.md", "tangle-om.svg"]
    assert (tmp_path / "out" / "tangle-om.svg").read_text().startswith("<svg")
