"""Sphinx configuration for the course website (`make docs`, built by tools/build_docs.py).

Sphinx + MyST-NB + the book theme: all install from PyPI and build offline. MyST-NB renders the
notebooks as committed (no execution); MathJax 3 comes bundled by sphinx-mathjax-offline, so the
site needs no CDN."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "perceiver_lite"
author = "the perceiver_lite authors"
copyright = "the perceiver_lite authors"
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "notebook_header",
]

root_doc = "index"
default_role = "code"  # the docstrings are Markdown-flavoured: `name` means code
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "results/**.ipynb",
]  # a results notebook is data, not a page
nb_execution_mode = "off"  # the site shows each notebook as committed
nb_ipywidgets_js = {}  # no widget JavaScript from a CDN: the viewer needs a kernel anyway
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "misc.highlighting_failure"]

html_theme = "sphinx_book_theme"
html_title = "perceiver_lite"
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
}
html_static_path = []
html_context = {
    "default_mode": "light"
}  # a first visit has no stored mode; without a default the theme logs an error

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False}
