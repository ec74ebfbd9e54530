"""Mutation operators: where each applies and what it makes; seeded mutants of a change's target code."""

from __future__ import annotations

import random
import subprocess

import pytest

from skillforge.analyze import analyze_change
from skillforge.analyze.patch import apply_patch_to_text, parse_patch
from skillforge.analyze.mutate import (
    OPERATORS, Edit, file_diff, is_valid_mutant, mutants_for, mutate_source, operator,
)
from skillforge.analyze.lang.python import parse
from skillforge.analyze.split import TestConfig


def _nodes(src: str):
    stack = [parse(src).root_node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _mutations(name: str, src: str, seed: int = 0) -> list[str]:
    """Every mutated source the operator makes of ``src`` (one per site)."""
    op = operator(name)
    data = src.encode()
    out = []
    for node in _nodes(src):
        if op.applies(node):
            edit = op.apply(node, random.Random(seed))
            assert isinstance(edit, Edit) and edit.description
            out.append(mutate_source(data, edit).decode())
    return out


# (operator, source, the mutated sources it makes: one per site; [] = it does not apply)
CASES = [
    ("comparison_flip", "ok = a < b\n", ["ok = a >= b\n"]),
    ("comparison_flip", "ok = x is not None\n", ["ok = x is None\n"]),
    ("comparison_flip", "ok = k not in d\n", ["ok = k in d\n"]),
    ("comparison_flip", "ok = a == b\n", ["ok = a != b\n"]),
    ("comparison_flip", "ok = a + b\n", []),
    ("boundary_shift", "ok = n <= limit\n", ["ok = n < limit\n"]),
    ("boundary_shift", "ok = n == limit\n", []),
    ("bool_op_swap", "ok = a and b\n", ["ok = a or b\n"]),
    ("bool_op_swap", "ok = a & b\n", []),
    ("negation_drop", "ok = not done\n", ["ok = done\n"]),
    ("negation_drop", "ok = ~mask\n", []),
    ("bool_flip", "strict = True\n", ["strict = False\n"]),
    ("bool_flip", "strict = None\n", []),
    ("arith_swap", "n = a - b\n", ["n = a + b\n"]),
    ("arith_swap", "n = a // b\n", ["n = a / b\n"]),
    ("arith_swap", "n += step\n", ["n -= step\n"]),
    ("arith_swap", "s = 'a' + name\n", []),  # concatenation, not arithmetic
    ("arith_swap", "s = '%s' % name\n", []),  # formatting
    ("arith_swap", "n = -a\n", []),
    ("off_by_one", "x = items[0]\n", ["x = items[1]\n"]),
    ("off_by_one", "rate = 0.5\n", ["rate = 1.5\n"]),
    ("off_by_one", "mask = 0xFF\n", []),  # hex, octal, exponents are left alone
    ("off_by_one", "big = 1e3\n", []),
    ("return_none", "def f():\n    return total\n", ["def f():\n    return None\n"]),
    ("return_none", "def f():\n    return None\n", []),
    ("return_none", "def f():\n    return\n", []),
    ("statement_drop", "def f():\n    a = 1\n    log(a)\n", ["def f():\n    log(a)\n", "def f():\n    a = 1\n"]),
    ("statement_drop", "def f():\n    a = 1\n", ["def f():\n    pass\n"]),  # the block's only statement
    ("statement_drop", 'def f():\n    """Doc."""\n    return 1\n', []),  # docstrings and returns stay
    ("statement_drop", "x = 1\n", []),  # module level: not in a block
    ("arg_swap", "r = divmod(a, b)\n", ["r = divmod(b, a)\n"]),
    ("arg_swap", "r = f(a, a)\n", []),  # identical arguments: no change
    ("arg_swap", "r = f(a, key=b)\n", []),
    ("arg_swap", "r = f(*args, b)\n", []),
]


@pytest.mark.parametrize("name,src,expected", CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_operator_applies_or_not(name, src, expected):
    got = _mutations(name, src)
    assert got == expected
    assert operator(name).can_change(parse(src).root_node) == bool(expected)
    for mutated in got:
        assert is_valid_mutant(src.encode(), mutated.encode())


def test_operators_are_small_named_classes():
    names = [op.name for op in OPERATORS]
    assert len(names) == len(set(names)) == 10
    assert {type(op).__name__ for op in OPERATORS} >= {"ComparisonFlip", "ArithSwap", "OffByOne", "StatementDrop"}
    with pytest.raises(ValueError, match="unknown mutation operator"):
        operator("nope")


def test_seeded_choices():
    # a chained comparison: the seed picks the operator token; off_by_one picks +1 or -1
    seen = {tuple(_mutations("comparison_flip", "ok = 0 < x <= 9\n", seed)) for seed in range(8)}
    assert seen == {("ok = 0 >= x <= 9\n",), ("ok = 0 < x > 9\n",)}
    seen = {tuple(_mutations("off_by_one", "n = 5\n", seed)) for seed in range(8)}
    assert seen == {("n = 4\n",), ("n = 6\n",)}
    assert _mutations("off_by_one", "n = 0\n", 3) == ["n = 1\n"]  # never negative from zero


def test_invalid_mutants_are_recognised():
    src = b"def f(a):\n    return a < 1\n"
    assert not is_valid_mutant(src, src)  # unchanged
    assert not is_valid_mutant(src, b"def f(a):\n    return a <\n")  # does not parse
    assert not is_valid_mutant(src, b"def f(a):\n    return a < 1  # same code\n")  # same AST


def test_file_diff_applies_with_git(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.py").write_text("x = 1\ny = 2")  # no newline at the end
    new = "x = 1\ny = 3"
    patch = file_diff("a.py", "x = 1\ny = 2", new)
    assert "\\ No newline at end of file" in patch
    subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=patch.encode(), check=True)
    assert (tmp_path / "a.py").read_text() == new
    created = file_diff("b.py", None, "z = 1\n")
    subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=created.encode(), check=True)
    assert (tmp_path / "b.py").read_text() == "z = 1\n"
    assert file_diff("a.py", "same\n", "same\n") == ""


BEFORE = '''\
def price(amount, qty):
    return amount * qty


def discount(total):
    if total > 100:
        return total * 0.1
    return 0


def untouched(a, b):
    return a - b if a > b else b - a
'''
AFTER = BEFORE.replace("if total > 100:", "if total >= 100:").replace("return amount * qty", "return round(amount * qty, 2)")


def _analysis(before: str, after: str, path: str = "shop/pricing.py"):
    patch = file_diff(path, before, after)
    return analyze_change(patch, lambda p: before.encode() if p == path else None,
                          lambda p: after.encode() if p == path else None, [path], TestConfig())


def test_mutants_stay_in_the_changed_entities_and_are_deterministic():
    a = _analysis(BEFORE, AFTER)
    assert a.entities == ["shop/pricing.py::price", "shop/pricing.py::discount"]
    read = lambda p: AFTER.encode()  # noqa: E731
    first = mutants_for(read, a, seed=7, max_per_entity=3, max_total=6)
    assert first == mutants_for(read, a, seed=7, max_per_entity=3, max_total=6)
    assert {m.entity for m in first} == set(a.entities)
    lines = AFTER.splitlines()
    for m in first:
        assert 1 <= m.line <= lines.index("def untouched(a, b):")  # never in the untouched function
        (fd,) = parse_patch(m.patch)
        mutated = apply_patch_to_text(AFTER, fd)
        assert mutated != AFTER and not parse(mutated).root_node.has_error
    # entities take turns, and one entity's mutants differ in kind
    assert [m.entity for m in first[:2]] == a.entities
    per = [m.operator for m in first if m.entity.endswith("::discount")]
    assert len(per) == len(set(per))
    # sites on the changed lines come first
    assert first[0].on_changed_line and first[1].on_changed_line
    assert len(mutants_for(read, a, seed=7, max_per_entity=3, max_total=2)) == 2
    seeds = {tuple((m.operator, m.line) for m in mutants_for(read, a, seed=s)) for s in range(6)}
    assert len(seeds) > 1
