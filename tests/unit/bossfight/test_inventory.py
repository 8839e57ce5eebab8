"""What a tree deploys, read from its compose file, its migrations and its task decorators."""

from __future__ import annotations

import textwrap

from bench.fight.inventory import (
    CORES,
    Process,
    celery_tasks,
    gunicorn_configs,
    migrations,
    processes,
)

SERVICES = {
    "web": {"command": ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]},
    "old-web": {"command": "gunicorn config.wsgi --workers 3"},
    "worker": {"command": ["celery", "-A", "config", "worker", "--queues", "intake,mail"]},
    "dispatcher": {"command": "celery -A config worker -P threads --concurrency 16 -Q logistics"},
    "beat": {"command": ["celery", "-A", "config", "beat"]},
    "flower": {"command": ["celery", "flower"], "profiles": ["flower"]},
    "spare": {"command": ["celery", "-A", "config", "worker"], "profiles": ["spare"]},
    "postgres": {"image": "postgres:16"},
}


def test_processes_and_their_concurrency_come_from_the_commands_and_the_gunicorn_config():
    gunicorn = {"config/gunicorn.py": {"workers": 2, "threads": 8, "worker_class": "gthread"}}

    found = processes(SERVICES, gunicorn)

    assert gunicorn_configs(SERVICES) == ["config/gunicorn.py"]
    assert found == [
        Process("beat", "beat", 1, "", "", False),
        Process("dispatcher", "worker", 16, "threads", "logistics", False),
        Process("old-web", "web", 3, "3 sync workers", "", False),
        Process("spare", "worker", CORES, "prefork", "all", True),
        Process("web", "web", 16, "2 gthread workers x 8 threads", "", False),
        Process("worker", "worker", CORES, "prefork", "intake,mail", False),
    ]


def test_migrations_and_tasks_are_counted_per_tree(tree):
    (tree / "fixture_shop" / "tasks.py").write_text(
        textwrap.dedent(
            """\
            from celery import shared_task
            from config.celery import app


            @shared_task(bind=True)
            def ship(self):
                pass


            @app.task
            def sweep():
                pass


            def helper():
                pass
            """
        )
    )

    assert migrations(tree, ["fixture_shop", "fixture_shipping"]) == {"fixture_shop": 1}
    assert celery_tasks(tree, ["fixture_shop", "fixture_shipping"]) == 2
