"""What can only be learnt about a tree by importing it: its import graph, URLs, tables, settings.

Run as a script in a child process, with the tree first on ``sys.path`` and the environment
emptied by the caller (``bench.fight.imports.run_probe``): the working tree and the first commit
share every package name, so each is imported in a process of its own. Imports nothing of the
project itself (not even ``bench``: the first commit has a ``bench`` package of its own).

    python bench/fight/probe.py SPEC.json RESULT.json

SPEC holds ``packages`` (the tree's packages to graph), ``couplings`` (a ``source`` package, a
``target`` package and the ``public`` modules of the target that the source may import), and
optionally ``django`` (true: set up Django from the tree's settings) and ``gunicorn_configs``
(config files, relative to the tree, evaluated as gunicorn would).
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grimp


def module_path(tree: Path, module: str) -> str:
    base = Path(*module.split("."))
    package = base / "__init__.py"
    return (package if (tree / package).exists() else base.with_suffix(".py")).as_posix()


def import_lines(tree: Path, graph: grimp.ImportGraph, importer: str, imported: str) -> list[str]:
    return [
        f"{module_path(tree, importer)}:{detail['line_number']} {detail['line_contents']}"
        for detail in graph.get_import_details(importer=importer, imported=imported)
    ]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(edges[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return sorted(found)


def graph_facts(tree: Path, spec: dict[str, Any]) -> dict[str, Any]:
    packages = spec["packages"]
    graph = grimp.build_graph(*packages, cache_dir=None)
    ours = {module for module in graph.modules if module.split(".")[0] in packages}
    edges = {
        module: {m for m in graph.find_modules_directly_imported_by(module) if m in ours}
        for module in ours
    }
    couplings = []
    for coupling in spec["couplings"]:
        source, target, public = coupling["source"], coupling["target"], set(coupling["public"])
        direct = [
            (importer, imported)
            for importer in sorted(ours)
            if importer.split(".")[0] == source
            for imported in sorted(edges[importer])
            if imported.split(".")[0] == target
        ]
        couplings.append(
            {
                **coupling,
                "present": source in packages and target in packages,
                "imports": sum(len(import_lines(tree, graph, *pair)) for pair in direct),
                "past_public": [
                    line
                    for importer, imported in direct
                    if imported not in public
                    for line in import_lines(tree, graph, importer, imported)
                ],
            }
        )
    return {
        "modules": len(ours),
        "imports": sum(len(imported) for imported in edges.values()),
        "cycles": [
            {
                "modules": component,
                "imports": [
                    line
                    for importer in component
                    for imported in sorted(edges[importer] & set(component))
                    for line in import_lines(tree, graph, importer, imported)
                ],
            }
            for component in cycles(edges)
        ],
        "couplings": couplings,
    }


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    from django.urls import URLResolver

    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.lookup_str


def django_facts(packages: list[str]) -> dict[str, Any]:
    import django

    django.setup()
    from django.apps import apps
    from django.conf import settings
    from django.db import router
    from django.urls import get_resolver

    routes = [
        {"route": route, "view": view}
        for route, view in _routes(get_resolver().url_patterns)
        # The admin's own pages and development-only media serving are not the system's API.
        if not route.startswith("admin/") and view != "django.views.static.serve"
    ]
    tables = [
        {
            "table": model._meta.db_table,
            "app": model._meta.app_label,
            "alias": router.db_for_write(model),
        }
        for model in apps.get_models(include_auto_created=True)
        if model.__module__.split(".")[0] in packages
    ]
    databases = {
        alias: {
            "engine": config["ENGINE"].rsplit(".", 1)[-1],
            "conn_max_age": config.get("CONN_MAX_AGE", 0),
            "pool": bool(config.get("OPTIONS", {}).get("pool")),
        }
        for alias, config in settings.DATABASES.items()
    }
    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None) or {}
    return {
        "routes": routes,
        "tables": sorted(tables, key=lambda t: t["table"]),
        "databases": databases,
        "periodic_tasks": sorted(schedule),
    }


def gunicorn_facts(tree: Path, configs: list[str]) -> dict[str, dict[str, Any]]:
    facts = {}
    for config in configs:
        namespace = runpy.run_path(str(tree / config))
        facts[config] = {
            "workers": namespace.get("workers", 1),
            "threads": namespace.get("threads", 1),
            "worker_class": namespace.get("worker_class", "sync"),
        }
    return facts


def main() -> int:
    spec_path, result_path = sys.argv[1:3]
    spec = json.loads(Path(spec_path).read_text())
    tree = Path(spec["tree"])
    result: dict[str, Any] = {"graph": graph_facts(tree, spec)}
    if spec.get("django"):
        result["django"] = django_facts(spec["packages"])
    result["gunicorn"] = gunicorn_facts(tree, spec.get("gunicorn_configs", []))
    Path(result_path).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
