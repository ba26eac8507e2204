"""Repository-relative paths written in the code and the docs name files that exist.

The scanner reads the text files under ``opkit/``, ``solvers/``,
``benchmarks/``, ``examples/``, ``docs/`` and ``datasets/`` and picks out
every path that starts with one of the repository's top-level folders
(``datasets/fno-burgers.toml``, ``tests/test_darcy.py``, ``docs/``) or with
``../shared/`` (the design notes and data beside the checkout, resolved from
the repository root). Conventions it relies on:

* a path inside another project is written with that project's name in front
  (``neuraloperator/examples/...``), which the scanner does not take for ours;
* a placeholder is written in angle brackets, ``datasets/<name>.toml``, and is
  not checked; a glob (``datasets/*.toml``) must match at least one file;
* a folder that the code creates and git ignores (``benchmarks/_data``) counts
  when ``.gitignore`` lists it.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SCANNED = ("opkit", "solvers", "benchmarks", "examples", "docs", "datasets")
TOP = ("opkit", "solvers", "benchmarks", "examples", "docs", "datasets", "tests")
TEXT_SUFFIXES = {".py", ".rst", ".inc", ".toml", ".md", ".txt", ".cfg"}
#: Build outputs (ignored by git) whose text is not ours to check.
SKIPPED_PARTS = {"_build", "auto_examples", "generated", "__pycache__", ".ipynb_checkpoints"}

PATH = re.compile(
    r"(?<![\w./\\-])"  # not the tail of a longer path, a URL or another project's path
    r"((?:\.\./shared|" + "|".join(TOP) + r")/[\w./*<>{}$-]*)"
)
PLACEHOLDER = re.compile(r"[<>{}$]")


def text_files():
    """The scanned text files, relative to the repository root."""
    out = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_file() and path.suffix in TEXT_SUFFIXES and not SKIPPED_PARTS & set(rel.parts):
                out.append(rel)
    return out


def find_references(text):
    """``(line number, path)`` of every repository-relative path in ``text``.

    Trailing sentence punctuation is dropped (``see docs/solvers.rst.``);
    placeholders (anything with ``<``, ``>``, ``{``, ``}`` or ``$``) are left out.
    """
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in PATH.finditer(line):
            ref = match.group(1).rstrip(".")
            if not PLACEHOLDER.search(ref):
                found.append((number, ref))
    return found


def ignored_folders():
    """Folders that ``.gitignore`` lists by their full path (``benchmarks/_data/``)."""
    gitignore = ROOT / ".gitignore"
    if not gitignore.is_file():
        return ()
    lines = [line.strip() for line in gitignore.read_text().splitlines()]
    return tuple(
        line.strip("/") for line in lines
        if line.endswith("/") and "/" in line.strip("/") and not line.startswith("#") and "*" not in line
    )


def resolves(ref, shared=SHARED):
    """Whether ``ref`` names something that exists (or a git-ignored generated folder)."""
    if ref.startswith("../shared/"):
        base, rest = shared, ref[len("../shared/"):]
    else:
        base, rest = ROOT, ref
    rest = rest.rstrip("/")
    if "*" in rest:
        return any(base.glob(rest))
    if (base / rest).exists():
        return True
    return base is ROOT and any(rest == folder or rest.startswith(folder + "/") for folder in ignored_folders())


def _all_references():
    refs = []
    for rel in text_files():
        for number, ref in find_references((ROOT / rel).read_text(encoding="utf-8")):
            refs.append((f"{rel}:{number}", ref))
    return refs


REFERENCES = _all_references()


def test_the_scanner_finds_paths_and_leaves_placeholders_and_foreign_paths_alone():
    text = (
        "See ``solvers/_cli.py`` and docs/solvers.rst.\n"
        "A recipe datasets/<name>.toml, a glob datasets/*.toml,\n"
        "neuraloperator/examples/models/plot_FNO_darcy.py, https://example.org/docs/x.rst\n"
        "and a typo: datasets/fno-burgerz.toml\n"
    )
    refs = find_references(text)
    assert refs == [(1, "solvers/_cli.py"), (1, "docs/solvers.rst"), (2, "datasets/*.toml"),
                    (4, "datasets/fno-burgerz.toml")]
    assert [resolves(ref) for _, ref in refs] == [True, True, True, False]
    assert not resolves("datasets/*.tomlx") and not resolves("../shared/no-such-file", shared=ROOT)


def test_the_tree_has_references_to_check():
    # A scanner that matched nothing would pass the next test vacuously.
    refs = {ref for _, ref in REFERENCES}
    assert len(text_files()) > 50
    assert {"solvers/navier_stokes.py", "docs/benchmarks.rst", "tests/test_darcy.py"} <= refs


def test_every_repository_path_in_the_code_and_docs_exists():
    broken = [f"{where}: {ref}" for where, ref in REFERENCES if not ref.startswith("../") and not resolves(ref)]
    assert not broken, "paths that name nothing in the repository:\n" + "\n".join(broken)


def test_every_shared_path_exists():
    shared = [(where, ref) for where, ref in REFERENCES if ref.startswith("../shared/")]
    assert shared, "no ../shared reference found"
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} (the shared folder beside the checkout) is not present here")
    broken = [f"{where}: {ref}" for where, ref in shared if not resolves(ref)]
    assert not broken, f"paths that name nothing under {SHARED}:\n" + "\n".join(broken)
