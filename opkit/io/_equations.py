"""Equations stored as text in opkit files, read back as sympy expressions.

``solvers.odes`` writes each trajectory's vector field as infix text (components
separated by ``" | "``, constants rounded); this module is the one place that
parses that text, for the solvers and for :mod:`opkit.models` (PROSE's
tokenizer) alike, so ``opkit`` never imports ``solvers``.
"""

from __future__ import annotations

__all__ = ["parse_equation"]


def parse_equation(text, dim=None):
    """Parse an ``equation`` string back into sympy expressions, one per component.

    Parameters
    ----------
    text : str
        Infix text as written by :func:`solvers.odes.infix` (components separated by ``" | "``).
    dim : int, optional
        Expected number of components.

    Returns
    -------
    list of sympy.Expr
        In the symbols ``u_0 ... u_{d-1}`` (``sympy.Symbol("u_0")`` etc.).

    Raises
    ------
    ValueError
        A component sympy cannot parse (the message names it), or not ``dim``
        components.
    """
    import sympy  # lazy: ``--help`` must not import it

    parts = [part.strip() for part in str(text).split("|")]
    if dim is not None and len(parts) != dim:
        raise ValueError(f"equation has {len(parts)} components, expected {dim}: {text!r}")
    names = {f"u_{i}": sympy.Symbol(f"u_{i}") for i in range(max(dim or 0, len(parts), 8))}
    names.update({"sin": sympy.sin, "cos": sympy.cos})
    out = []
    for k, part in enumerate(parts):
        try:
            out.append(sympy.sympify(part, locals=names))
        except (sympy.SympifyError, SyntaxError, TypeError) as exc:
            raise ValueError(f"component {k} of the equation, {part!r}, does not parse: {exc}") from None
    return out
