"""The boss fight: the modernization's phases replayed as rounds, each with a verdict, one report.

Each round replays one phase's attack against its defense and prints a verdict line (a progress
bar on stderr while it runs); the report is a self-contained HTML file and a Markdown summary
with a table per round, before against after, and charts.

The flake, black box and herd rounds run traffic against the whole system, started once for
them (``bench/fight/arena.py``, on the bench's harness, bench/harness/) on fresh PostgreSQL
databases (``--db-prefix``) and two dedicated Redis databases (``--redis``, ``--cache``: flushed).

    .venv/bin/python bench/bossfight.py                          # every round, full size
    .venv/bin/python bench/bossfight.py --quick                  # what CI runs
    .venv/bin/python bench/bossfight.py --rounds tangle --write-assessment-metrics
    .venv/bin/python bench/bossfight.py --rounds flake,herd --db-prefix monolithos_mine \\
        --redis redis://127.0.0.1:6379/4 --cache redis://127.0.0.1:6379/5

Exit status: 0 when every defense held; 1 when one failed; 2 when the run could not be made.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fight import arena  # noqa: E402
from bench.fight.assessment import ASSESSMENT, NoMarkers, write_metrics  # noqa: E402
from bench.fight.imports import ProbeFailed  # noqa: E402
from bench.fight.report import Run, write_report  # noqa: E402
from bench.fight.rounds import ROUNDS  # noqa: E402
from bench.fight.source_tree import NotACheckout, head_commit  # noqa: E402
from bench.fight.tangle import NAME as TANGLE  # noqa: E402
from bench.harness.processes import RunFailed, raise_file_limit, terminate_on_sigterm  # noqa: E402

# Stock for every order the rounds place at full size (the harness's set-up sizes it).
ORDERS_STOCKED = 2500
# Quick runs wait less for the breaker to try the supplier again (15 s in production).
QUICK_ENV = {"BREAKER_RESET_TIMEOUT": "5"}


def rounds(raw: str) -> list[str]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in ROUNDS]
    if unknown or not names:
        named = ", ".join(unknown) if unknown else repr(raw)
        raise argparse.ArgumentTypeError(
            f"no such round: {named} (rounds that exist: {', '.join(ROUNDS)})"
        )
    return names


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    listing = "\n".join(f"  {r.name:<8} {r.what}" for r in ROUNDS.values())
    parser = argparse.ArgumentParser(
        prog="bench/bossfight.py",
        description="The boss fight: the modernization's phases as rounds, each with a verdict.",
        epilog=f"rounds that exist:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rounds",
        type=rounds,
        default=list(ROUNDS),
        help=f"comma-separated rounds to run, in order (all: {','.join(ROUNDS)})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="reduced sizes, for CI: tens of orders (the tangle round reads code only: the "
        "same in both sizes)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "var" / "bossfight",
        help="directory for report.html, report.md and the charts (var/bossfight)",
    )
    parser.add_argument(
        "--write-assessment-metrics",
        action="store_true",
        help=f"also write the tangle round's tables into {ASSESSMENT.relative_to(ROOT)}",
    )
    arena.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.write_assessment_metrics and TANGLE not in args.rounds:
        parser.error("--write-assessment-metrics needs the tangle round")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["bench/bossfight.py", *(sys.argv[1:] if argv is None else argv)])
    started, clock = datetime.datetime.now(datetime.UTC), time.monotonic()
    ring = arena.Ring(args, orders=ORDERS_STOCKED, extra=QUICK_ENV if args.quick else {})
    if any(ROUNDS[name].runs_traffic for name in args.rounds):
        raise_file_limit(4 * 1000 + 1024)
        ring.adopt_environment()
    results = []
    try:
        with terminate_on_sigterm():
            commit = head_commit()
            for name in args.rounds:
                result = ROUNDS[name].run(quick=args.quick, arena=ring)
                print(result.verdict, flush=True)
                results.append(result)
            ring.failed = not all(result.held for result in results)
            ring.close()
        run = Run(
            command=command,
            commit=commit,
            started=started.strftime("%Y-%m-%d %H:%M UTC"),
            seconds=time.monotonic() - clock,
        )
        written = write_report(results, run, args.output)
        if args.write_assessment_metrics:
            write_metrics(next(r for r in results if r.name == TANGLE), run)
            written.append(ASSESSMENT)
    except (NotACheckout, ProbeFailed, NoMarkers, RunFailed) as exc:
        print(f"bossfight: the run could not be made: {exc}", file=sys.stderr)
        ring.failed = True
        return 2
    finally:
        ring.close()
    for finding in (f for r in results for f in r.findings):
        print(f"  - {finding}")
    print("report: " + ", ".join(str(path) for path in written[:2]))
    return 0 if all(result.held for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
