"""The tangle round: architecture fitness of the code as inherited and as it is now, in one run.

The attack was the tangle: a circular import, a god object reaching for the ORM, HTTP and mail
itself, a hidden signal. The defense is boundaries (import-linter contracts, the logistics
context behind ``logistics.public``) and dependency injection. Both trees are measured by the
same functions: the first commit, written out by ``git archive``, and the working tree. Then
OrderManager is run on fakes (``injection``). The round holds when the working tree has no
import cycle among the project's modules, keeps every contract, imports nothing of logistics
past its public API, and OrderManager takes its collaborators and runs on them without ever
opening a socket. What still opens the database is reported, not judged: no target was set
for it (docs/adr/0027).
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.fight import charts
from bench.fight.complexity import COMPLEX, CodeSize, GodObject, measure_code
from bench.fight.imports import (
    ImportFitness,
    coupling_spec,
    fitness_from,
    lint_contracts,
    run_probe,
)
from bench.fight.inventory import (
    CORES,
    Inventory,
    compose_services,
    gunicorn_configs,
    inventory_from,
)
from bench.fight.outcome import Defense, RoundResult, Table
from bench.fight.progress import Progress
from bench.fight.source_tree import ROOT, first_commit, head_commit, snapshot

if TYPE_CHECKING:
    from bench.fight.injection import InjectionRun

NAME = "tangle"
TITLE = "The tangle: boundaries and dependency injection"
FITNESS_TITLE = "Architecture fitness"
INVENTORY_TITLE = "What the system deploys"
LEGACY, CONTEXT = "monolithos", "logistics"
PUBLIC = ("logistics", "logistics.public")
STEPS = 5


@dataclass(frozen=True)
class TreeMeasure:
    label: str
    commit: str
    packages: tuple[str, ...]
    code: CodeSize
    imports: ImportFitness
    inventory: Inventory


def project_packages(root: Path = ROOT) -> tuple[str, ...]:
    """The project's packages, as today's import-linter configuration declares them."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return tuple(config["tool"]["importlinter"]["root_packages"])


def measure_tree(tree: Path, label: str, commit: str, declared: Sequence[str]) -> TreeMeasure:
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
        commit=commit,
        packages=packages,
        code=measure_code(tree, packages),
        imports=fitness_from(probe["graph"], lint_contracts(tree)),
        inventory=inventory_from(tree, packages, services, probe),
    )


def _run_injection() -> InjectionRun:
    """OrderManager on fakes, in this process: Django's settings are read, nothing connects."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the fakes' placements are not news
    import django

    django.setup()
    # Imported once Django is set up: the fakes are model instances.
    from bench.fight.injection import run_on_fakes

    return run_on_fakes()


def run(*, quick: bool, progress: Progress | None = None) -> RoundResult:
    """The tangle round (the same size with ``quick``: it reads code, it starts nothing)."""
    progress = progress or Progress(NAME, STEPS)
    declared = project_packages()
    progress.step("finding the first commit")
    first = first_commit()
    with tempfile.TemporaryDirectory(prefix="bossfight-inherited-") as scratch:
        progress.step(f"measuring the inherited code ({first[:7]})")
        before = measure_tree(
            snapshot(first, Path(scratch)), f"inherited ({first[:7]})", first, declared
        )
    head = head_commit()
    progress.step(f"measuring the working tree ({head[:7]})")
    after = measure_tree(ROOT, f"now ({head[:7]})", head, declared)
    progress.step("running OrderManager on fakes")
    injection = _run_injection()
    progress.step("drawing the charts")
    result = judge(before, after, injection)
    progress.finish()
    return result


# ------------------------------------------------------------------------------ judging


def _cycles(measure: TreeMeasure) -> str:
    cycles = measure.imports.cycles
    if not cycles:
        return "0"
    return f"{len(cycles)} ({measure.imports.modules_in_cycles} modules)"


def _coupling(measure: TreeMeasure, source: str, target: str) -> str:
    coupling = measure.imports.coupling(source, target)
    if not coupling.present:
        return f"- (no {CONTEXT} package)"
    if source == CONTEXT:  # no public API to go through: every import is one too many
        return str(coupling.imports)
    return f"{coupling.imports} ({len(coupling.past_public)} past logistics.public)"


def _god(measure: TreeMeasure) -> GodObject:
    god = measure.code.god_object
    if god is None:
        raise LookupError(f"{measure.label}: OrderManager not found")
    return god


def _reaches(god: GodObject) -> str:
    total = sum(god.reaches.values())
    kinds = ", ".join(f"{kind} {count}" for kind, count in god.reaches.items() if count)
    return f"{total} ({kinds})" if total else "0"


def fitness_table(before: TreeMeasure, after: TreeMeasure, injection: InjectionRun) -> Table:
    gods = _god(before), _god(after)

    def row(metric: str, value: Any) -> tuple[str, str, str]:
        return (metric, str(value(before, gods[0])), str(value(after, gods[1])))

    on_fakes = f"{len(injection.on_fakes())} of {len(injection.operations)}"
    return Table.of(
        FITNESS_TITLE,
        ("metric", before.label, after.label),
        [
            row("project packages", lambda m, g: len(m.packages)),
            row("Python source lines (migrations left out)", lambda m, g: m.code.total_lines),
            row(
                "modules / imports between them",
                lambda m, g: f"{m.imports.modules} / {m.imports.imports}",
            ),
            row("import cycles among the project's modules", lambda m, g: _cycles(m)),
            row(
                "import-linter contracts kept",
                lambda m, g: f"{m.imports.contracts.kept} of {m.imports.contracts.total}",
            ),
            row("imports monolithos -> logistics", lambda m, g: _coupling(m, LEGACY, CONTEXT)),
            row("imports logistics -> monolithos", lambda m, g: _coupling(m, CONTEXT, LEGACY)),
            row("OrderManager: lines / methods", lambda m, g: f"{g.lines} / {len(g.methods)}"),
            row(
                "OrderManager: cyclomatic complexity, all methods / most complex",
                lambda m, g: (
                    f"{g.complexity} / {g.most_complex.complexity} "
                    f"({g.most_complex.name.split('.')[1]})"
                ),
            ),
            row(
                "OrderManager: infrastructure calls written in the class",
                lambda m, g: _reaches(g),
            ),
            row(
                "OrderManager: collaborators its constructor takes",
                lambda m, g: ", ".join(g.collaborators) or "none",
            ),
            (
                "OrderManager: operations run on fakes alone (no database, no network)",
                "- (nothing can be injected)" if not gods[0].collaborators else "not run",
                on_fakes,
            ),
            row(
                "functions / mean cyclomatic complexity",
                lambda m, g: f"{len(m.code.functions)} / {m.code.mean_complexity:.2f}",
            ),
            row(
                f"functions of complexity over {COMPLEX} (radon rank C or worse)",
                lambda m, g: len(m.code.complex_functions()),
            ),
            row(
                "most complex function",
                lambda m, g: (
                    f"{m.code.functions[0].name} {m.code.functions[0].complexity} "
                    f"({m.code.functions[0].where})"
                ),
            ),
        ],
        note="Packages are those import-linter declares today, where the tree has them; "
        "the contracts are each tree's own. Infrastructure calls: `.objects`, `save()`, "
        "`refresh_from_db()`, `transaction.atomic`, `requests.*`, `send_mail` in the class body.",
    )


def _processes(inventory: Inventory, kind: str) -> str:
    running = inventory.running(kind)
    if not running:
        return "0"
    if kind == "web":
        return ", ".join(f"{p.service} ({p.pool})" for p in running)
    if kind == "worker":
        return ", ".join(f"{p.service} ({p.pool} x {p.concurrency}; {p.queues})" for p in running)
    return ", ".join(p.service for p in running)


def _slots(inventory: Inventory, *kinds: str) -> str:
    counts = [p.concurrency for kind in kinds for p in inventory.running(kind)]
    if not counts:
        return "0"
    fixed = sum(c for c in counts if isinstance(c, int))
    by_core = sum(1 for c in counts if c == CORES)
    return " + ".join(
        filter(None, [str(fixed) if fixed else "", f"{by_core} x cores" if by_core else ""])
    )


def _databases(inventory: Inventory) -> str:
    aliases: dict[str, list[str]] = {}
    for alias, config in inventory.databases.items():
        setting = f"CONN_MAX_AGE {config['conn_max_age']} s, " + (
            "psycopg pool" if config["pool"] else "no pool: one connection per thread"
        )
        aliases.setdefault(setting, []).append(alias)
    return "; ".join(f"{', '.join(names)}: {setting}" for setting, names in aliases.items())


def inventory_table(before: TreeMeasure, after: TreeMeasure) -> Table:
    def row(metric: str, value: Any) -> tuple[str, str, str]:
        return (metric, str(value(before.inventory)), str(value(after.inventory)))

    return Table.of(
        INVENTORY_TITLE,
        ("metric", before.label, after.label),
        [
            row("HTTP endpoints (URL patterns, the admin's left out)", lambda i: len(i.routes)),
            row(
                "database tables of the project's models, by alias",
                lambda i: ", ".join(f"{alias} {len(t)}" for alias, t in i.tables.items()),
            ),
            row("migrations", lambda i: sum(i.migrations.values())),
            row("Celery tasks / periodic", lambda i: f"{i.tasks} / {i.periodic_tasks}"),
            row("web processes (docker-compose)", lambda i: _processes(i, "web")),
            row("requests served at once (web threads)", lambda i: _slots(i, "web")),
            row("worker processes (docker-compose)", lambda i: _processes(i, "worker")),
            row("tasks run at once (worker slots)", lambda i: _slots(i, "worker")),
            row("beat", lambda i: _processes(i, "beat")),
            row("database connections (PostgreSQL settings)", _databases),
            row(
                "database connections at most, per alias (every thread and slot)",
                lambda i: _slots(i, "web", "worker", "beat"),
            ),
        ],
        note="From each tree's docker-compose.yml (services behind a profile left out), its "
        "gunicorn configuration with an empty environment, and its settings with PostgreSQL URLs.",
    )


def injection_table(injection: InjectionRun) -> Table:
    rows = []
    for run in injection.operations:
        if run.on_fakes:
            rows.append((run.name, "yes", run.answer))
        elif run.reach is not None:
            rows.append(
                (
                    run.name,
                    "no",
                    f"opens the {run.reach.kind} itself: {run.reach.where} `{run.reach.code}`",
                )
            )
        else:
            rows.append((run.name, "BROKEN", run.error))
    return Table.of(
        "OrderManager on fakes, operation by operation",
        ("operation", "on fakes alone", "answer, or where it reached past its collaborators"),
        rows,
        note=f"Constructor given fakes for: {', '.join(injection.collaborators)}. Each operation "
        "runs on fresh fakes with database connections and sockets refused.",
    )


def top_functions_table(before: TreeMeasure, after: TreeMeasure, count: int = 10) -> Table:
    pairs = zip(before.code.functions[:count], after.code.functions[:count], strict=False)
    return Table.of(
        "The most complex functions",
        ("#", before.label, "complexity", after.label, "complexity"),
        [
            (rank, f"{b.name} ({b.where})", b.complexity, f"{a.name} ({a.where})", a.complexity)
            for rank, (b, a) in enumerate(pairs, start=1)
        ],
    )


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
    gods = _god(before), _god(after)
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
