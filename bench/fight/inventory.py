"""What a tree deploys: endpoints, tables, migrations, tasks, processes and their concurrency.

Read from the tree's own files: ``docker-compose.yml`` (the production layout: which processes
run, with which flags), the gunicorn configuration it names, the migrations directories and the
task decorators; the URLs, tables and database settings come from the import probe
(``probe.py``), which sets Django up from the tree's settings.
"""

from __future__ import annotations

import ast
import shlex
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.fight.complexity import python_files

CORES = "one per core"  # Celery's prefork default, when the command names no concurrency


@dataclass(frozen=True)
class Process:
    service: str
    kind: str  # web, worker or beat
    concurrency: int | str  # threads or pool processes; CORES when left to the machine
    pool: str  # gunicorn's worker class or Celery's pool
    queues: str  # the queues a worker consumes ("" for web and beat; "all" when unnamed)
    optional: bool  # behind a compose profile: not started by ``docker compose up``


@dataclass(frozen=True)
class Inventory:
    routes: tuple[str, ...]
    tables: dict[str, tuple[str, ...]]  # alias -> tables of the project's models
    migrations: dict[str, int]  # app -> migration files
    tasks: int  # functions declared as Celery tasks
    periodic_tasks: int  # beat schedule entries
    processes: tuple[Process, ...]
    databases: dict[str, dict[str, Any]]  # alias -> engine, conn_max_age, pool

    def running(self, kind: str) -> list[Process]:
        return [p for p in self.processes if p.kind == kind and not p.optional]


def _argv(command: object) -> list[str]:
    if isinstance(command, list):
        return [str(part) for part in command]
    return shlex.split(str(command or ""))


def _flag(argv: Sequence[str], *names: str) -> str | None:
    for index, part in enumerate(argv):
        for name in names:
            if part == name and index + 1 < len(argv):
                return argv[index + 1]
            if name.startswith("--") and part.startswith(f"{name}="):
                return part.split("=", 1)[1]
    return None


def compose_services(tree: Path) -> dict[str, Any]:
    path = tree / "docker-compose.yml"
    if not path.exists():
        return {}
    services: dict[str, Any] = yaml.safe_load(path.read_text()).get("services", {})
    return services


def gunicorn_configs(services: dict[str, Any]) -> list[str]:
    """The gunicorn configuration files the compose file's commands name."""
    found = []
    for service in services.values():
        argv = _argv(service.get("command"))
        config = _flag(argv, "-c", "--config") if argv[:1] == ["gunicorn"] else None
        if config:
            found.append(config)
    return sorted(set(found))


def processes(services: dict[str, Any], gunicorn: dict[str, dict[str, Any]]) -> list[Process]:
    found = []
    for name, service in sorted(services.items()):
        argv = _argv(service.get("command"))
        optional = bool(service.get("profiles"))
        if argv[:1] == ["gunicorn"]:
            config = gunicorn.get(_flag(argv, "-c", "--config") or "", {})
            workers = int(_flag(argv, "-w", "--workers") or config.get("workers", 1))
            threads = int(_flag(argv, "--threads") or config.get("threads", 1))
            worker_class = config.get("worker_class", "sync")
            pool = f"{workers} {worker_class} workers" + (
                f" x {threads} threads" if threads > 1 else ""
            )
            found.append(Process(name, "web", workers * threads, pool, "", optional))
        elif argv[:1] == ["celery"] and "worker" in argv:
            concurrency: int | str = int(_flag(argv, "-c", "--concurrency") or 0) or CORES
            pool = _flag(argv, "-P", "--pool") or "prefork"
            queues = _flag(argv, "-Q", "--queues") or "all"
            found.append(Process(name, "worker", concurrency, pool, queues, optional))
        elif argv[:1] == ["celery"] and "beat" in argv:
            found.append(Process(name, "beat", 1, "", "", optional))
    return found


def migrations(tree: Path, packages: Sequence[str]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for package in packages:
        for path in (tree / package).rglob("migrations/[0-9]*.py"):
            counts[path.relative_to(tree).parts[0]] += 1
    return dict(sorted(counts.items()))


def _is_task(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Name):
        return target.id == "shared_task"
    return isinstance(target, ast.Attribute) and target.attr == "task"


def celery_tasks(tree: Path, packages: Sequence[str]) -> int:
    return sum(
        1
        for path in python_files(tree, packages)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_is_task(decorator) for decorator in node.decorator_list)
    )


def inventory_from(
    tree: Path, packages: Sequence[str], services: dict[str, Any], probe: dict[str, Any]
) -> Inventory:
    django = probe["django"]
    tables: dict[str, list[str]] = {}
    for table in django["tables"]:
        tables.setdefault(table["alias"], []).append(table["table"])
    return Inventory(
        routes=tuple(route["route"] for route in django["routes"]),
        tables={alias: tuple(names) for alias, names in sorted(tables.items())},
        migrations=migrations(tree, packages),
        tasks=celery_tasks(tree, packages),
        periodic_tasks=len(django["periodic_tasks"]),
        processes=tuple(processes(services, probe["gunicorn"])),
        databases=django["databases"],
    )
