"""Sphinx configuration of opkit's documentation."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import opkit  # noqa: E402

project = "opkit"
author = "opkit developers"
release = opkit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    # scikit-learn's metadata-routing setters are generated, not opkit API.
    "exclude-members": "set_fit_request,set_predict_request,set_score_request,set_inverse_transform_request,set_transform_request",
}
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # Every example must run: a failing one fails the build.
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

templates_path = []
exclude_patterns = ["_build", "**.ipynb_checkpoints", "*.rst.inc"]
html_theme = "alabaster"
html_static_path = []
suppress_warnings = ["config.cache"]
