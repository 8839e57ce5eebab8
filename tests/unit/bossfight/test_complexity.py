"""Size, complexity and the god object's shape, read from files with radon and ast."""

from __future__ import annotations

from bench.fight.complexity import measure_code, shape_of


def test_functions_are_ranked_by_complexity_and_migrations_are_left_out(tree):
    code = measure_code(tree, ["fixture_shop", "fixture_shipping"])

    assert [(f.name, f.complexity) for f in code.functions[:2]] == [
        ("Till.sell", 3),  # a for and an if (a with is no decision); longer, so first
        ("Till.total", 3),  # a generator's for and its if
    ]
    assert code.functions[0].where == "fixture_shop/till.py:10"
    assert "fixture_shop/migrations/0001_initial.py" not in {f.path for f in code.functions}
    assert code.source_lines == {"fixture_shop": 21, "fixture_shipping": 4}
    assert code.complex_functions() == []


def test_the_god_object_shows_what_it_is_given_and_what_it_reaches_itself(tree):
    source = (tree / "fixture_shop" / "till.py").read_text()

    till = shape_of(source, "fixture_shop/till.py", "Till")

    assert till is not None
    assert till.collaborators == ("drawer", "printer")
    assert till.reaches == {"ORM": 2, "transaction": 1, "HTTP": 1, "mail": 1}
    assert (till.line, till.lines, till.complexity) == (6, 16, 7)
    assert till.most_complex.name == "Till.sell"
    assert shape_of(source, "fixture_shop/till.py", "Drawer") is None
