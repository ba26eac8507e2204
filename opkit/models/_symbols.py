"""PROSE's symbolic side: prefix tokens of vector fields, their vocabulary, sympy both ways.

A vector field :math:`f: \\mathbb{R}^d \\to \\mathbb{R}^d` is written as the
prefix (Polish) token sequences of its components separated by ``|``, in the
variables ``u_0 ... u_{d-1}``, as :mod:`solvers.odes` writes its
``equation_prefix``:

- operators ``add sub mul div pow`` (binary; ``pow``'s exponent is an integer
  token) and ``neg inv sin cos pow2`` (unary);
- integers ``-10`` ... ``10``;
- other constants as three tokens, sign, 3-digit mantissa and decimal
  exponent: :math:`10.1 = +101 \\times 10^{-1}` is ``+ N101 E-1`` (3
  significant digits, exponents ``E-10`` ... ``E10``);
- ``<PLACEHOLDER>`` for a constant left out (a *skeleton*), and the sequence
  tokens ``<BOS> <EOS> <PAD>``.

So :math:`\\dot u_0 = 10.1 (u_1 - u_0)` is ``mul + N101 E-1 sub u_1 u_0`` and its
skeleton ``mul <PLACEHOLDER> sub u_1 u_0``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "BINARY", "UNARY", "SymbolVocabulary", "prefix_to_sympy", "sympy_to_prefix", "infix_to_prefix",
    "prefix_to_infix", "skeleton", "corrupt_skeleton", "split_components", "float_tokens", "evaluate_field",
]

BINARY = ("add", "sub", "mul", "div", "pow")
UNARY = ("neg", "inv", "sin", "cos", "pow2")
SPECIALS = ("<PAD>", "<BOS>", "<EOS>", "<PLACEHOLDER>")
SEPARATOR = "|"
PLACEHOLDER = "<PLACEHOLDER>"
INTEGERS = tuple(str(i) for i in range(-10, 11))
MANTISSAS = tuple(f"N{m:03d}" for m in range(1000))
EXPONENTS = tuple(f"E{e}" for e in range(-10, 11))
SIGNS = ("+", "-")


def float_tokens(value):
    """Sign, mantissa and exponent tokens of ``value`` rounded to 3 significant digits.

    Parameters
    ----------
    value : float

    Returns
    -------
    list of str
        E.g. ``["+", "N101", "E-1"]`` for 10.1.

    Raises
    ------
    ValueError
        Non-finite values, or magnitudes outside ``[1e-10, 999e10]`` (the
        exponent tokens' range); zero is ``+ N000 E0``.
    """
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"constant {value!r} is not finite; it has no tokens")
    sign = "-" if v < 0 else "+"
    a = abs(v)
    if a == 0:
        return ["+", "N000", "E0"]
    exponent = math.floor(math.log10(a)) - 2
    mantissa = round(a / 10.0**exponent)
    if mantissa >= 1000:
        mantissa, exponent = mantissa // 10, exponent + 1
    if mantissa < 100:  # log10 rounding below a decade
        mantissa, exponent = round(a / 10.0 ** (exponent - 1)), exponent - 1
    if not -10 <= exponent <= 10:
        raise ValueError(f"constant {value!r} is out of the token range (mantissa x 10^e with -10 <= e <= 10)")
    return [sign, f"N{mantissa:03d}", f"E{exponent}"]


def _float_value(sign, mantissa, exponent):
    return float(f"{'-' if sign == '-' else ''}{int(mantissa[1:])}e{int(exponent[1:])}")


def split_components(tokens):
    """The token lists of the components of ``tokens`` (split at ``|``).

    Parameters
    ----------
    tokens : str or list of str

    Returns
    -------
    list of list of str
    """
    words = tokens.split() if isinstance(tokens, str) else list(tokens)
    out, current = [], []
    for w in words:
        if w == SEPARATOR:
            out.append(current)
            current = []
        else:
            current.append(w)
    out.append(current)
    return out


def _symbols(n):
    import sympy

    return [sympy.Symbol(f"u_{i}") for i in range(n)]


def _parse(words, pos, placeholder):
    """(sympy expression, next position) of the subtree starting at ``words[pos]``."""
    import sympy

    if pos >= len(words):
        raise ValueError("the prefix sequence ends in the middle of an expression (an operand is missing)")
    w = words[pos]
    if w in ("add", "sub", "mul", "div"):
        a, pos = _parse(words, pos + 1, placeholder)
        b, pos = _parse(words, pos, placeholder)
        return {"add": a + b, "sub": a - b, "mul": a * b, "div": a / b}[w], pos
    if w == "pow":
        a, pos = _parse(words, pos + 1, placeholder)
        if pos >= len(words) or words[pos] not in INTEGERS:
            got = words[pos] if pos < len(words) else "the end"
            raise ValueError(f"token {got!r} at position {pos}: pow needs an integer exponent token")
        return a ** int(words[pos]), pos + 1
    if w in UNARY:
        a, pos = _parse(words, pos + 1, placeholder)
        return {"neg": -a, "inv": 1 / a, "sin": sympy.sin(a), "cos": sympy.cos(a), "pow2": a**2}[w], pos
    if w in INTEGERS:
        return sympy.Integer(int(w)), pos + 1
    if w in SIGNS:
        if pos + 2 >= len(words):
            raise ValueError(f"token {w!r} at position {pos}: a constant needs a mantissa and an exponent after its sign")
        m, e = words[pos + 1], words[pos + 2]
        if m not in MANTISSAS or e not in EXPONENTS:
            raise ValueError(f"token {w!r} at position {pos}: a sign must be followed by N### and E## tokens, "
                             f"got {m!r} {e!r}")
        return sympy.Float(_float_value(w, m, e), 15), pos + 3
    if w == PLACEHOLDER:
        if placeholder is None:
            raise ValueError(f"token {w!r} at position {pos}: a skeleton has no value; pass placeholder= to decode it")
        return placeholder, pos + 1
    if w.startswith("u_") and w[2:].isdigit():
        return sympy.Symbol(w), pos + 1
    raise ValueError(f"token {w!r} at position {pos} is not an operator, a variable or a constant")


def prefix_to_sympy(tokens, dim=None, placeholder=None):
    """Decode prefix tokens into sympy expressions, one per component.

    Parameters
    ----------
    tokens : str or list of str
        Space-separated tokens or a list; ``<BOS>``/``<EOS>`` at the ends are ignored.
    dim : int, optional
        Expected number of components.
    placeholder : sympy.Expr, optional
        Value of ``<PLACEHOLDER>`` tokens (e.g. ``sympy.Symbol("c")``);
        without it, a skeleton raises.

    Returns
    -------
    list of sympy.Expr

    Raises
    ------
    ValueError
        An unknown or misplaced token (the message names it and its
        position), a component with tokens left over or missing operands, or
        not ``dim`` components.
    """
    words = tokens.split() if isinstance(tokens, str) else list(tokens)
    if words and words[0] == "<BOS>":
        words = words[1:]
    if "<EOS>" in words:
        words = words[: words.index("<EOS>")]
    parts = split_components(words)
    if dim is not None and len(parts) != dim:
        raise ValueError(f"the sequence has {len(parts)} components, expected {dim}")
    out = []
    for k, part in enumerate(parts):
        if not part:
            raise ValueError(f"component {k} is empty")
        try:
            expr, pos = _parse(part, 0, placeholder)
        except ValueError as exc:
            raise ValueError(f"component {k}: {exc}") from None
        if pos != len(part):
            raise ValueError(f"component {k}: token {part[pos]!r} at position {pos} is left over after a complete expression")
        out.append(expr)
    return out


def _int_token(n):
    return str(int(n)) if -10 <= int(n) <= 10 else None


def _number(value, out):
    import sympy

    if value.is_Integer and _int_token(value) is not None:
        out.append(_int_token(value))
    elif value.is_Rational and not value.is_Integer and _int_token(value.p) and _int_token(value.q):
        out.extend(["div", _int_token(value.p), _int_token(value.q)])
    elif value.is_number and value.is_real:
        out.extend(float_tokens(float(value)))
    else:
        raise ValueError(f"the number {value} ({sympy.srepr(value)}) is not a real constant")


def _emit(expr, out, max_var):
    import sympy

    if expr.is_Symbol:
        name = expr.name
        if not (name.startswith("u_") and name[2:].isdigit()) or int(name[2:]) >= max_var:
            raise ValueError(f"symbol {name!r} is not a state variable u_0 ... u_{max_var - 1}")
        out.append(name)
    elif expr.is_Number or (expr.is_number and not expr.free_symbols and expr.is_real):
        _number(sympy.nsimplify(expr) if expr.is_Rational else expr.evalf() if not expr.is_Number else expr, out)
    elif expr.is_Add:
        terms = list(expr.as_ordered_terms())
        for _ in terms[1:]:
            out.append("add")
        _emit(terms[0], out, max_var)
        for t in terms[1:]:
            _emit(t, out, max_var)
    elif expr.is_Mul:
        coeff, rest = expr.as_coeff_Mul()
        if coeff == -1:
            out.append("neg")
            _emit(rest, out, max_var)
            return
        factors = list(sympy.Mul.make_args(expr))
        for _ in factors[1:]:
            out.append("mul")
        for f in factors:
            _emit(f, out, max_var)
    elif expr.is_Pow:
        base, exponent = expr.args
        if exponent == 2:
            out.append("pow2")
            _emit(base, out, max_var)
        elif exponent == -1:
            out.append("inv")
            _emit(base, out, max_var)
        elif exponent.is_Integer and _int_token(exponent) is not None:
            out.append("pow")
            _emit(base, out, max_var)
            out.append(_int_token(exponent))
        else:
            raise ValueError(f"the power {expr} has exponent {exponent}: only integers -10 ... 10 have tokens")
    elif isinstance(expr, (sympy.sin, sympy.cos)):
        out.append(type(expr).__name__)
        _emit(expr.args[0], out, max_var)
    else:
        raise ValueError(f"{expr} ({type(expr).__name__}) cannot be written with the PROSE vocabulary "
                         "(operators add sub mul div pow neg inv sin cos pow2)")


def sympy_to_prefix(exprs, max_var=None):
    """Prefix tokens of sympy expressions (one per component), constants to 3 significant digits.

    Parameters
    ----------
    exprs : sympy.Expr or sequence of sympy.Expr
    max_var : int, optional
        Variables must be ``u_0 ... u_{max_var-1}`` (default: as many as components).

    Returns
    -------
    list of str
        Components separated by ``|``.

    Raises
    ------
    ValueError
        A function, symbol or exponent the vocabulary cannot write (the
        message names it).
    """
    import sympy

    exprs = [exprs] if isinstance(exprs, sympy.Basic) else list(exprs)
    max_var = len(exprs) if max_var is None else int(max_var)
    out = []
    for k, e in enumerate(exprs):
        if k:
            out.append(SEPARATOR)
        _emit(sympy.sympify(e), out, max_var)
    return out


def infix_to_prefix(text, dim=None):
    """Prefix tokens of an infix equation ``"f_0 | f_1 | ..."`` (via sympy).

    Parameters
    ----------
    text : str
    dim : int, optional

    Returns
    -------
    list of str
    """
    from opkit.io._equations import parse_equation

    exprs = parse_equation(text, dim)
    return sympy_to_prefix(exprs, max_var=max(len(exprs), dim or 0))


def prefix_to_infix(tokens, dim=None):
    """Readable infix text ``"f_0 | f_1 | ..."`` of prefix tokens (sympy's printing).

    Parameters
    ----------
    tokens : str or list of str
    dim : int, optional

    Returns
    -------
    str
    """
    import sympy

    c = sympy.Symbol("c")
    return " | ".join(str(e) for e in prefix_to_sympy(tokens, dim, placeholder=c))


def _subtree_end(words, pos):
    """Index just past the subtree starting at ``words[pos]``."""
    w = words[pos]
    if w in ("add", "sub", "mul", "div"):
        return _subtree_end(words, _subtree_end(words, pos + 1))
    if w == "pow":
        return _subtree_end(words, pos + 1) + 1
    if w in UNARY:
        return _subtree_end(words, pos + 1)
    if w in SIGNS:
        return pos + 3
    return pos + 1


def skeleton(tokens):
    """The skeleton of prefix tokens: every sign-mantissa-exponent constant becomes ``<PLACEHOLDER>``.

    Integer tokens (structure, e.g. the 3 of ``u_2**3/3``) are kept.

    Parameters
    ----------
    tokens : str or list of str

    Returns
    -------
    list of str
    """
    words = tokens.split() if isinstance(tokens, str) else list(tokens)
    out, i = [], 0
    while i < len(words):
        if words[i] in SIGNS:
            out.append(PLACEHOLDER)
            i += 3
        else:
            out.append(words[i])
            i += 1
    return out


def _terms(words):
    """Top-level (sign, tokens) terms of one component's add/sub chain."""
    if not words:
        return []
    head = words[0]
    if head in ("add", "sub"):
        mid = _subtree_end(words, 1)
        left, right = _terms(words[1:mid]), _terms(words[mid:])
        if head == "sub":
            right = [(-s, t) for s, t in right]
        return left + right
    return [(1, list(words))]


def _join(terms):
    out = list(terms[0][1]) if terms[0][0] > 0 else ["neg", *terms[0][1]]
    for s, t in terms[1:]:
        out = ["add" if s > 0 else "sub", *out, *t]
    return out


def corrupt_skeleton(tokens, rng, dim, p_add=0.15, p_delete=0.15):
    """Randomly add and delete terms of a skeleton, component by component (PROSE's training noise).

    Parameters
    ----------
    tokens : list of str
        A skeleton (or full prefix sequence).
    rng : numpy.random.Generator
    dim : int
        Number of state variables (added terms use ``u_0 ... u_{dim-1}``).
    p_add, p_delete : float
        Probability, per component, of adding one term ``<PLACEHOLDER>*u_i``
        or ``<PLACEHOLDER>*u_i*u_j``, and of deleting one term (only when it
        has more than one).

    Returns
    -------
    list of str
    """
    out = []
    for k, comp in enumerate(split_components(tokens)):
        terms = _terms(comp)
        if len(terms) > 1 and rng.random() < p_delete:
            terms.pop(int(rng.integers(len(terms))))
        if rng.random() < p_add:
            i = int(rng.integers(dim))
            if rng.random() < 0.5:
                new = ["mul", PLACEHOLDER, f"u_{i}"]
            else:
                new = ["mul", "mul", PLACEHOLDER, f"u_{i}", f"u_{int(rng.integers(dim))}"]
            terms.insert(int(rng.integers(len(terms) + 1)), (1, new))
        if k:
            out.append(SEPARATOR)
        out.extend(_join(terms))
    return out


class SymbolVocabulary:
    """Tokens of PROSE's vocabulary and their ids, for vector fields in up to ``d_max`` variables.

    Parameters
    ----------
    d_max : int
        Number of variable tokens ``u_0 ... u_{d_max-1}``.

    Attributes
    ----------
    tokens : list of str
        Id ``i`` is ``tokens[i]``; ``<PAD>`` is 0, ``<BOS>`` 1, ``<EOS>`` 2.
    """

    def __init__(self, d_max=3):
        self.d_max = int(d_max)
        self.tokens = [*SPECIALS, SEPARATOR, *BINARY, *UNARY, *INTEGERS, *SIGNS, *MANTISSAS, *EXPONENTS,
                       *(f"u_{i}" for i in range(self.d_max))]
        self.index = {t: i for i, t in enumerate(self.tokens)}

    pad, bos, eos = 0, 1, 2

    def __len__(self):
        return len(self.tokens)

    def encode(self, tokens, what="tokens"):
        """Ids of ``<BOS> tokens <EOS>``.

        Parameters
        ----------
        tokens : str or list of str
        what : str
            Name used in the error message.

        Returns
        -------
        list of int

        Raises
        ------
        ValueError
            A token outside the vocabulary (named with its position).
        """
        words = tokens.split() if isinstance(tokens, str) else list(tokens)
        ids = [self.bos]
        for k, w in enumerate(words):
            if w not in self.index:
                extra = f" (the vocabulary has variables u_0 ... u_{self.d_max - 1})" if w.startswith("u_") else ""
                raise ValueError(f"{what}: token {w!r} at position {k} is not in the vocabulary{extra}")
            ids.append(self.index[w])
        return ids + [self.eos]

    def decode(self, ids):
        """Tokens of ``ids``, without ``<BOS>``, stopping at ``<EOS>`` and skipping ``<PAD>``.

        Parameters
        ----------
        ids : sequence of int

        Returns
        -------
        list of str
        """
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos:
                break
            if i in (self.pad, self.bos):
                continue
            out.append(self.tokens[i])
        return out

    def to_dict(self):
        """JSON-able state (``{"d_max": ..., "tokens": [...]}``)."""
        return {"d_max": self.d_max, "tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, state):
        """The vocabulary :meth:`to_dict` wrote (checked against this version's token list)."""
        vocab = cls(state["d_max"])
        if list(state["tokens"]) != vocab.tokens:
            raise ValueError("the saved vocabulary differs from this opkit version's PROSE vocabulary")
        return vocab


def evaluate_field(exprs, states):
    """Values of a vector field at states.

    Parameters
    ----------
    exprs : list of sympy.Expr
        In ``u_0 ... u_{d-1}``.
    states : numpy.ndarray, shape (n, d)

    Returns
    -------
    numpy.ndarray, shape (n, len(exprs))
    """
    import sympy

    d = states.shape[1]
    f = sympy.lambdify(_symbols(d), list(exprs), modules="numpy")
    with np.errstate(all="ignore"):
        values = f(*states.T)
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float), (len(states),)) for v in values], axis=1)
