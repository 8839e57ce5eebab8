"""The tangle round: architecture fitness of the code as inherited and as it is now, in one run.

The attack was the tangle: a circular import, a god object reaching for the ORM, HTTP and mail
itself, a hidden signal. The defense is boundaries (import-linter contracts, the logistics
context behind ``logistics.public``) and dependency injection. Both trees are measured by the
same code (``measure``): the first commit, written out by ``git archive``, and the working
tree. Then OrderManager is run on fakes (``injection``). The round holds when the working tree
has no import cycle among the project's modules, keeps every contract, imports nothing of
logistics past its public API, and OrderManager takes its collaborators and runs on them
without ever opening a socket. What still opens the database is reported, not judged: no
target was set for it (docs/adr/0027).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bench.fight import charts
from bench.fight.measure import CONTEXT, LEGACY, TreeMeasure, measure_tree, project_packages
from bench.fight.outcome import Defense, RoundResult
from bench.fight.progress import Progress
from bench.fight.source_tree import ROOT, first_commit, head_commit, snapshot
from bench.fight.tangle_tables import (
    fitness_table,
    god_object,
    injection_table,
    inventory_table,
    top_functions_table,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.fight.arena import Arena
    from bench.fight.injection import InjectionRun

NAME = "tangle"
TITLE = "The tangle: boundaries and dependency injection"
STEPS = 5


def _run_injection() -> InjectionRun:
    """OrderManager on fakes, in this process: Django's settings are read, nothing connects."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the fakes' placements are not news
    import django

    django.setup()
    # Imported once Django is set up: the fakes are model instances.
    from bench.fight.injection import run_on_fakes

    return run_on_fakes()


def run(*, quick: bool, arena: Callable[[], Arena]) -> RoundResult:
    """The tangle round (the same size with ``quick``: it reads code, it starts nothing)."""
    del arena  # the code is the attack: no system to run
    progress = Progress(NAME, STEPS)
    declared = project_packages()
    progress.step("finding the first commit")
    first = first_commit()
    with tempfile.TemporaryDirectory(prefix="bossfight-inherited-") as scratch:
        progress.step(f"measuring the inherited code ({first[:7]})")
        before = measure_tree(snapshot(first, Path(scratch)), f"inherited ({first[:7]})", declared)
    head = head_commit()
    progress.step(f"measuring the working tree ({head[:7]})")
    after = measure_tree(ROOT, f"now ({head[:7]})", declared)
    progress.step("running OrderManager on fakes")
    injection = _run_injection()
    progress.step("drawing the charts")
    result = judge(before, after, injection)
    progress.finish()
    return result


def defenses(before: TreeMeasure, after: TreeMeasure, injection: InjectionRun) -> list[Defense]:
    cycles = after.imports.cycles
    contracts = after.imports.contracts
    coupling = after.imports.coupling(LEGACY, CONTEXT)
    reverse = after.imports.coupling(CONTEXT, LEGACY)
    network = injection.reached("network")
    broken = injection.broken()
    return [
        Defense(
            "no import cycle among the project's modules",
            not cycles,
            f"{len(cycles)} now"
            + "".join(f"; {' <-> '.join(c.modules)}" for c in cycles)
            + f" (inherited: {len(before.imports.cycles)}"
            + "".join(f"; {' <-> '.join(c.modules)}" for c in before.imports.cycles)
            + ")",
        ),
        Defense(
            "every import-linter contract kept",
            not contracts.broken,
            f"{contracts.kept} of {contracts.total} kept"
            + (f"; broken: {', '.join(contracts.broken)}" if contracts.broken else ""),
        ),
        Defense(
            "monolithos reaches logistics through logistics.public only",
            coupling.present and not coupling.past_public and not reverse.imports,
            f"{len(coupling.past_public)} of {coupling.imports} imports past the public API"
            + "".join(f"; {line}" for line in coupling.past_public)
            + f"; logistics -> monolithos: {reverse.imports}",
        ),
        Defense(
            "OrderManager takes its collaborators and runs on fakes, never on the network",
            bool(injection.collaborators) and not network and not broken,
            f"fakes for {', '.join(injection.collaborators)}; "
            f"{len(injection.on_fakes())} of {len(injection.operations)} operations ran on them "
            f"alone; network reached: {len(network)}; broken: {len(broken)}"
            + "".join(f"; {run.name}: {run.error}" for run in broken),
        ),
    ]


def judge(before: TreeMeasure, after: TreeMeasure, injection: InjectionRun) -> RoundResult:
    gods = god_object(before), god_object(after)
    database = injection.reached("database")
    summary = (
        f"cycles {len(before.imports.cycles)} -> {len(after.imports.cycles)} | "
        f"contracts {before.imports.contracts.kept}/{before.imports.contracts.total} -> "
        f"{after.imports.contracts.kept}/{after.imports.contracts.total} | "
        f"past logistics.public {len(after.imports.coupling(LEGACY, CONTEXT).past_public)} | "
        f"OrderManager CC {gods[0].complexity} -> {gods[1].complexity}, "
        f"{gods[0].lines} -> {gods[1].lines} lines | "
        f"on fakes {len(injection.on_fakes())} of {len(injection.operations)}"
    )
    findings = [
        f"{run.name} still opens the database itself, at {run.reach.where} (`{run.reach.code}`)"
        for run in database
        if run.reach is not None
    ]
    mails = [run for run in injection.operations if run.name in ("place_order", "cancel_order")]
    if all(not run.on_fakes for run in mails):
        findings.append(
            "the notifier fake received no mail: both operations that mail open a transaction "
            "of their own before they reach it"
        )
    return RoundResult(
        name=NAME,
        title=TITLE,
        summary=summary,
        defenses=tuple(defenses(before, after, injection)),
        tables=(
            fitness_table(before, after, injection),
            injection_table(injection),
            top_functions_table(before, after),
            inventory_table(before, after),
        ),
        charts=(
            charts.methods_before_after(
                "tangle-order-manager",
                "OrderManager, method by method: cyclomatic complexity, inherited and now",
                gods[0].methods,
                gods[1].methods,
            ),
            charts.top_functions(
                "tangle-most-complex",
                "The ten most complex functions of the project, inherited and now",
                before.code.functions,
                after.code.functions,
            ),
        ),
        findings=tuple(findings),
    )
