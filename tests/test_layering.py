"""The package layers of issue #12: ``solvers`` may use ``opkit``, never the other way round."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path):
    """Absolute module names a source file imports (at any depth, lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno


def test_opkit_never_imports_solvers():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / "opkit").rglob("*.py"))
        for name, line in imported_modules(path)
        if name == "solvers" or name.startswith("solvers.")
    ]
    assert offenders == [], "opkit must not depend on solvers:\n" + "\n".join(offenders)


def test_the_check_sees_lazy_imports(tmp_path):
    # the walk covers imports inside functions, where the one offender used to hide
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from solvers.odes import parse_equation\n", encoding="utf-8")
    assert list(imported_modules(probe)) == [("solvers.odes", 2)]
