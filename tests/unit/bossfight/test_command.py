"""bench/bossfight.py offers only the rounds that exist, and says which they are."""

from __future__ import annotations

import pytest

from bench.bossfight import parse_args
from bench.fight.assessment import END, START, NoMarkers, metrics_block, write_metrics
from bench.fight.outcome import RoundResult, Table
from bench.fight.report import Run
from bench.fight.tangle_tables import FITNESS_TITLE, INVENTORY_TITLE


def test_help_names_the_rounds_that_exist(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])

    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "rounds that exist:\n  tangle " in out
    for name in ("flake", "blackbox", "herd"):
        assert f"\n  {name:<8} " in out


def test_a_round_that_does_not_exist_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--rounds", "tangle,stampede"])

    assert exit_.value.code == 2
    assert (
        "no such round: stampede (rounds that exist: tangle, flake, blackbox, herd)"
        in capsys.readouterr().err
    )


def test_the_assessment_metrics_need_the_tangle_round():
    assert parse_args(["--quick"]).rounds == ["tangle", "flake", "blackbox", "herd"]
    assert parse_args(["--rounds", "tangle", "--write-assessment-metrics"]).write_assessment_metrics


def test_the_assessments_block_is_replaced_and_nothing_else(tmp_path):
    result = RoundResult(
        name="tangle",
        title="The tangle",
        summary="",
        defenses=(),
        tables=(
            Table.of(FITNESS_TITLE, ("metric", "before", "after"), [("cycles", 1, 0)]),
            Table.of("On fakes", ("operation",), [("validate",)]),
            Table.of(INVENTORY_TITLE, ("metric", "before", "after"), [("tables", 5, 15)]),
        ),
    )
    run = Run("bench/bossfight.py --rounds tangle", "a" * 40, "2026-12-03 18:00 UTC", 9.0)
    document = tmp_path / "assessment.md"
    document.write_text(f"# Before\n\n{START}\nold numbers\n{END}\n\n## After\n")

    write_metrics(result, run, document)
    write_metrics(result, run, document)  # twice: the same document

    block = metrics_block(result, run)
    assert document.read_text() == f"# Before\n\n{START}\n{block}\n{END}\n\n## After\n"
    assert "| cycles | 1 | 0 |" in metrics_block(result, run)
    assert "On fakes" not in metrics_block(result, run)
    document.write_text("no markers")
    with pytest.raises(NoMarkers):
        write_metrics(result, run, document)


def test_the_exit_status_says_whether_every_defense_held(monkeypatch, tmp_path, capsys):
    from bench import bossfight
    from bench.fight.imports import ProbeFailed
    from bench.fight.outcome import Defense
    from bench.fight.rounds import Round

    def fight(*defenses_held: bool) -> int:
        result = RoundResult(
            name="tangle",
            title="The tangle",
            summary="numbers",
            defenses=tuple(Defense(f"d{n}", h, "") for n, h in enumerate(defenses_held)),
        )

        def held(*, quick: bool, arena: object) -> RoundResult:
            return result

        monkeypatch.setitem(bossfight.ROUNDS, "tangle", Round("tangle", "", held, False))
        return bossfight.main(["--quick", "--rounds", "tangle", "--output", str(tmp_path)])

    def cannot_run(*, quick: bool, arena: object) -> RoundResult:
        raise ProbeFailed("probing /tmp/tree failed")

    assert fight(True, True) == 0
    assert fight(True, False) == 1
    assert "TANGLE   FAILED  numbers" in capsys.readouterr().out
    assert (tmp_path / "report.html").exists()
    monkeypatch.setitem(bossfight.ROUNDS, "tangle", Round("tangle", "", cannot_run, False))
    assert bossfight.main(["--quick", "--rounds", "tangle", "--output", str(tmp_path)]) == 2
    assert "the run could not be made: probing /tmp/tree failed" in capsys.readouterr().err
