"""What fails the tangle round, and what it only reports."""

from __future__ import annotations

from bench.fight.complexity import CodeSize
from bench.fight.imports import Contracts, Coupling, ImportCycle, ImportFitness
from bench.fight.injection import InjectionRun, OperationRun, Reach
from bench.fight.inventory import Inventory
from bench.fight.measure import TreeMeasure, project_packages
from bench.fight.tangle import defenses

CYCLE = ImportCycle(
    ("monolithos.a", "monolithos.b"), ("monolithos/a.py:1 from monolithos import b",)
)
PAST = "monolithos/views.py:3 from logistics.models import Shipment"


def tree(*, cycles=(), past_public=(), broken=(), reverse=0) -> TreeMeasure:
    return TreeMeasure(
        label="now",
        packages=("monolithos", "logistics"),
        code=CodeSize(source_lines={}, functions=(), god_object=None),
        imports=ImportFitness(
            modules=2,
            imports=1,
            cycles=tuple(cycles),
            couplings=(
                Coupling("monolithos", "logistics", True, 3, tuple(past_public)),
                Coupling("logistics", "monolithos", True, reverse, ()),
            ),
            contracts=Contracts(kept=3, broken=tuple(broken)),
        ),
        inventory=Inventory((), {}, {}, 0, 0, (), {}),
    )


def fakes(*reaches: Reach | None) -> InjectionRun:
    return InjectionRun(
        collaborators=("notifications", "repo", "logistics"),
        operations=tuple(
            OperationRun(f"op{n}", None if reach else "answer", reach, None)
            for n, reach in enumerate(reaches)
        ),
    )


def held(after: TreeMeasure, injection: InjectionRun) -> dict[str, bool]:
    return {d.name: d.held for d in defenses(tree(cycles=[CYCLE]), after, injection)}


def test_a_clean_tree_holds_even_where_operations_still_open_the_database():
    database = Reach("database", "monolithos/order_manager.py:86", "with transaction.atomic():")

    assert all(held(tree(), fakes(None, database)).values())


def test_a_cycle_a_broken_contract_or_an_import_past_the_public_api_fails_it():
    verdicts = held(tree(cycles=[CYCLE], past_public=[PAST], broken=["layers"]), fakes(None))

    assert verdicts == {
        "no import cycle among the project's modules": False,
        "every import-linter contract kept": False,
        "monolithos reaches logistics through logistics.public only": False,
        "OrderManager takes its collaborators and runs on fakes, never on the network": True,
    }
    assert not held(tree(reverse=1), fakes(None))[
        "monolithos reaches logistics through logistics.public only"
    ]


def test_a_socket_opened_or_an_operation_broken_on_the_fakes_fails_it():
    network = Reach("network", "monolithos/order_manager.py:218", "requests.post(")
    broken = InjectionRun(("repo",), (OperationRun("validate", None, None, "KeyError: 'sku'"),))
    name = "OrderManager takes its collaborators and runs on fakes, never on the network"

    assert held(tree(), fakes(network))[name] is False
    assert held(tree(), broken)[name] is False
    detail = {d.name: d.detail for d in defenses(tree(), tree(), broken)}[name]
    assert "validate: KeyError: 'sku'" in detail


def test_the_measured_packages_are_the_applications_not_the_bench_or_the_tests(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.importlinter]\nroot_packages = ["config", "monolithos", "bench", "tests"]\n'
    )

    assert project_packages(tmp_path) == ("config", "monolithos")
