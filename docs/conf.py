"""Sphinx configuration of freqload's documentation (``make docs``)."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import freqload  # noqa: E402

project = "freqload"
author = "the freqload authors"
copyright = "2026, the freqload authors"
release = freqload.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "conftest.py"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# the API pages: signatures as written, members in source order, Google-style "Args:"
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# the docstrings name modules and classes with reST roles; not every target is documented
suppress_warnings = ["myst.xref_missing", "ref.python"]

html_theme = "furo"
html_title = f"freqload {release}"
