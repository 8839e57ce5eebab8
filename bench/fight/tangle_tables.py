"""The tangle round's tables: each tree's numbers side by side, as the report shows them.

The first two (fitness, deployment) are also the metrics table of docs/assessment.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.fight.complexity import COMPLEX, GOD_OBJECT, GOD_OBJECT_FILE, GodObject
from bench.fight.imports import ProbeFailed
from bench.fight.inventory import CORES, Inventory
from bench.fight.measure import CONTEXT, LEGACY, TreeMeasure
from bench.fight.outcome import Table

if TYPE_CHECKING:
    from bench.fight.injection import InjectionRun

FITNESS_TITLE = "Architecture fitness"
INVENTORY_TITLE = "What the system deploys"


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


def god_object(measure: TreeMeasure) -> GodObject:
    god = measure.code.god_object
    if god is None:
        raise ProbeFailed(f"{measure.label}: no class {GOD_OBJECT} in {GOD_OBJECT_FILE}")
    return god


def _reaches(god: GodObject) -> str:
    total = sum(god.reaches.values())
    kinds = ", ".join(f"{kind} {count}" for kind, count in god.reaches.items() if count)
    return f"{total} ({kinds})" if total else "0"


def fitness_table(before: TreeMeasure, after: TreeMeasure, injection: InjectionRun) -> Table:
    gods = god_object(before), god_object(after)

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
