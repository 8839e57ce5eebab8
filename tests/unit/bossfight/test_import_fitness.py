"""Cycles, coupling past a public API and contracts, measured on a small tree in a child process."""

from __future__ import annotations

import textwrap

from bench.fight.imports import coupling_spec, fitness_from, lint_contracts, run_probe

PACKAGES = ["fixture_shop", "fixture_shipping"]


def measure(tree):
    probe = run_probe(
        tree,
        {
            "packages": PACKAGES,
            "couplings": [
                coupling_spec("fixture_shop", "fixture_shipping", ["fixture_shipping.public"]),
                coupling_spec("fixture_shipping", "fixture_shop", []),
            ],
        },
    )
    return probe["graph"]


def test_a_cycle_is_found_with_the_imports_that_make_it(tree):
    graph = measure(tree)

    assert graph["cycles"] == [
        {
            "modules": ["fixture_shop.cart", "fixture_shop.checkout"],
            "imports": [
                "fixture_shop/cart.py:1 from fixture_shop import checkout",
                "fixture_shop/checkout.py:1 from fixture_shop.cart import checkout as _again",
            ],
        }
    ]


def test_an_import_past_the_public_api_is_counted_and_located(tree):
    shop, shipping = measure(tree)["couplings"]

    assert shop["imports"] == 2
    assert shop["past_public"] == [
        "fixture_shop/checkout.py:3 from fixture_shipping.carriers import cheapest"
    ]
    assert (shipping["imports"], shipping["past_public"]) == (0, [])


def test_contracts_are_the_trees_own_and_a_broken_one_is_named(tree):
    (tree / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.importlinter]
            root_packages = ["fixture_shop", "fixture_shipping"]

            [[tool.importlinter.contracts]]
            name = "The shop uses shipping through its public module"
            type = "forbidden"
            source_modules = ["fixture_shop"]
            forbidden_modules = ["fixture_shipping.carriers"]

            [[tool.importlinter.contracts]]
            name = "Shipping never imports the shop"
            type = "forbidden"
            source_modules = ["fixture_shipping"]
            forbidden_modules = ["fixture_shop"]
            """
        )
    )

    contracts = lint_contracts(tree)
    fitness = fitness_from(measure(tree), contracts)

    assert (contracts.kept, contracts.broken) == (
        1,
        ("The shop uses shipping through its public module",),
    )
    assert fitness.modules_in_cycles == 2
    assert fitness.coupling("fixture_shop", "fixture_shipping").past_public
