"""PROSE's tokenizer: prefix <-> sympy <-> infix on every family of solvers.odes, skeletons, corruption."""

import numpy as np
import pytest
import sympy

from opkit.models import _symbols as S
from solvers import odes


def _field(name, seed=0):
    family = odes.FAMILIES[name]
    return family, family.tree(odes.draw_parameters(family, np.random.default_rng(seed)))


def _same_field(a, b, dim, rtol=1e-12):
    states = np.random.default_rng(1).uniform(-2, 2, (64, dim))
    fa, fb = S.evaluate_field(a, states), S.evaluate_field(b, states)
    np.testing.assert_allclose(fa, fb, rtol=rtol, atol=rtol * np.abs(fb).max())


@pytest.mark.parametrize("name", sorted(odes.FAMILIES))
def test_generator_prefix_decodes_to_the_generator_infix(name):
    family, field = _field(name)
    decoded = S.prefix_to_sympy(odes.prefix(field), family.dim)
    truth = odes.parse_equation(odes.infix(field), family.dim)
    assert all(sympy.simplify(a - b) == 0 for a, b in zip(decoded, truth))
    # ... and sympy -> prefix -> sympy keeps the field (3-digit constants are exact).
    again = S.prefix_to_sympy(S.sympy_to_prefix(truth), family.dim)
    _same_field(again, truth, family.dim)
    assert all(sympy.simplify(a - b) == 0 for a, b in zip(again, truth))
    # infix text both ways
    _same_field(S.prefix_to_sympy(S.infix_to_prefix(odes.infix(field), family.dim)), truth, family.dim)
    _same_field(odes.parse_equation(S.prefix_to_infix(odes.prefix(field))), truth, family.dim)


@pytest.mark.parametrize("name", sorted(odes.FAMILIES))
def test_every_generator_token_is_in_the_vocabulary_and_ids_round_trip(name):
    family, field = _field(name, seed=3)
    vocab = S.SymbolVocabulary(d_max=5)
    words = odes.prefix(field).split()
    ids = vocab.encode(words)
    assert ids[0] == vocab.bos and ids[-1] == vocab.eos
    assert vocab.decode(ids) == words


def test_float_tokens_are_three_significant_digits():
    assert S.float_tokens(10.1) == ["+", "N101", "E-1"]
    assert S.float_tokens(-0.00275) == ["-", "N275", "E-5"]
    assert S.float_tokens(28.0) == ["+", "N280", "E-1"]
    assert S.float_tokens(1 / 3) == ["+", "N333", "E-3"]
    for v in np.random.default_rng(0).uniform(-100, 100, 200):
        sign, m, e = S.float_tokens(v)
        back = float(sympy.Float(S.prefix_to_sympy([sign, m, e])[0]))
        assert back == pytest.approx(odes.round_sig(v), rel=1e-12)
        assert 100 <= int(m[1:]) <= 999
    with pytest.raises(ValueError, match="not finite"):
        S.float_tokens(float("nan"))


def test_skeleton_replaces_constants_and_keeps_integers():
    assert S.skeleton("mul + N101 E-1 sub u_1 u_0") == ["mul", "<PLACEHOLDER>", "sub", "u_1", "u_0"]
    assert S.skeleton("div pow u_2 3 3") == ["div", "pow", "u_2", "3", "3"]
    c = sympy.Symbol("c")
    (expr,) = S.prefix_to_sympy(S.skeleton("mul + N101 E-1 sub u_1 u_0"), placeholder=c)
    assert sympy.expand(expr - c * (sympy.Symbol("u_1") - sympy.Symbol("u_0"))) == 0


def test_corruption_adds_and_deletes_whole_terms():
    family, field = _field("lorenz")
    sk = S.skeleton(odes.prefix(field))
    rng = np.random.default_rng(0)
    c = sympy.Symbol("c")
    true_terms = [len(sympy.Add.make_args(sympy.expand(e))) for e in S.prefix_to_sympy(sk, 3, placeholder=c)]
    seen = set()
    for _ in range(50):
        out = S.corrupt_skeleton(sk, rng, 3, p_add=0.5, p_delete=0.5)
        exprs = S.prefix_to_sympy(out, 3, placeholder=c)  # always a valid skeleton
        counts = [len(sympy.Add.make_args(sympy.expand(e))) for e in exprs]
        seen.update(n - t for n, t in zip(counts, true_terms))
    assert {-1, 0, 1} <= seen
    assert S.corrupt_skeleton(sk, rng, 3, p_add=0.0, p_delete=0.0) == sk


def test_bad_sequences_name_the_token():
    with pytest.raises(ValueError, match="'foo' at position 1"):
        S.prefix_to_sympy("add foo u_0")
    with pytest.raises(ValueError, match="operand is missing"):
        S.prefix_to_sympy("add u_0")
    with pytest.raises(ValueError, match="left over"):
        S.prefix_to_sympy("u_0 u_1")
    with pytest.raises(ValueError, match="3 components, expected 2"):
        S.prefix_to_sympy("u_0 | u_1 | u_2", dim=2)
    with pytest.raises(ValueError, match="'u_7' at position 2"):
        S.SymbolVocabulary(3).encode("add u_0 u_7")


def test_unrepresentable_expressions_are_refused():
    u0 = sympy.Symbol("u_0")
    with pytest.raises(ValueError, match="exp"):
        S.sympy_to_prefix([sympy.exp(u0)])
    with pytest.raises(ValueError, match="'x' is not a state variable"):
        S.sympy_to_prefix([sympy.Symbol("x")])
    with pytest.raises(ValueError, match="exponent 1/2"):
        S.sympy_to_prefix([sympy.sqrt(u0)])


def test_vocabulary_json_round_trip():
    vocab = S.SymbolVocabulary(3)
    assert S.SymbolVocabulary.from_dict(vocab.to_dict()).tokens == vocab.tokens
    assert vocab.tokens[:3] == ["<PAD>", "<BOS>", "<EOS>"]
