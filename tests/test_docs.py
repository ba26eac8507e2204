"""The API pages name objects that exist and carry docstrings.

The Sphinx build in CI runs last and takes minutes; an autosummary entry that
does not import (a missing ``currentmodule``, a renamed function) should fail
here first, in seconds.
"""

import importlib
import inspect
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def autosummary_entries(rst_path):
    """``(qualified name, line number)`` of every autosummary entry in a page."""
    module = None
    entries = []
    in_block = False
    for number, line in enumerate(rst_path.read_text(encoding="utf-8").splitlines(), 1):
        directive = re.match(r"\.\. currentmodule:: (\S+)", line)
        if directive:
            module = directive.group(1)
            continue
        if line.startswith(".. autosummary::"):
            in_block = True
            continue
        if in_block:
            if line and not line.startswith(" "):
                in_block = False
                continue
            name = line.strip()
            if not name or name.startswith(":"):
                continue
            entries.append((f"{module}.{name}" if module else name, number))
    return entries


def resolve(qualified_name):
    """Import the longest importable module prefix and walk the rest as attributes."""
    parts = qualified_name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(qualified_name)


PAGES = sorted(DOCS.glob("*.rst"))
ENTRIES = [(page.name, name, line) for page in PAGES for name, line in autosummary_entries(page)]


def test_api_pages_list_entries():
    assert len(ENTRIES) > 30, ENTRIES


@pytest.mark.parametrize("page,name,line", ENTRIES, ids=[f"{p}:{n}" for p, n, _ in ENTRIES])
def test_autosummary_entry_imports_and_is_documented(page, name, line):
    try:
        obj = resolve(name)
    except (ImportError, AttributeError) as error:
        pytest.fail(f"{page}:{line}: {name} does not resolve ({error})")
    if inspect.ismodule(obj) or callable(obj):
        assert inspect.getdoc(obj), f"{page}:{line}: {name} has no docstring"
