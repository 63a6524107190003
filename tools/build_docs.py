"""Build the course website into build/site/ (`make docs`): every notebook as committed, in reading order.

The Sphinx sources are assembled in build/docs-src/: the notebooks (main path, then appendices) with
nbdev's `#| …` directive lines taken out of the code they show (as nbdev's own pages do), the figures
and results they link to, a landing page whose table of contents is the reading order, and
an API reference generated from the package's docstrings. Nothing is executed and nothing is
downloaded: MyST-NB renders the stored outputs and MathJax is bundled.

    python tools/build_docs.py [--out build/site]
"""

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

from sphinx.cmd.build import build_main

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "build" / "docs-src"


def reading_order():
    "The main path (`NN_*.ipynb`) in order, then the appendices (`A1_*.ipynb`, …)."
    notebooks = sorted((ROOT / "notebooks").glob("[0-9A][0-9]*_*.ipynb"))
    return ([nb for nb in notebooks if nb.name[0].isdigit()], [nb for nb in notebooks if nb.name[0] == "A"])


def strip_directives(notebook):
    """A notebook (as loaded JSON) as the site shows it: the nbdev directives (`#| export`, `#| default_exp
    …`) that open a code cell are taken out, and a cell left with no code and no output is dropped."""
    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines(keepends=True)
            while lines and re.match(r"#\s*\|", lines[0].lstrip()):
                lines.pop(0)
            if not "".join(lines).strip() and not cell.get("outputs"):
                continue
            cell = {**cell, "source": "".join(lines)}
        cells.append(cell)
    return {**notebook, "cells": cells}


def modules():
    "The package's modules, in the order of the notebooks that derive them."
    package = ROOT / "perceiver_lite"
    paths = {
        ".".join(path.relative_to(package).with_suffix("").parts): path
        for path in package.rglob("*.py")
        if not path.stem.startswith("_")
    }
    names = list(paths)
    derived = {}
    for name in names:
        header = paths[name].read_text().split("\n", 40)
        found = next(
            (re.search(r"notebooks/(\w+)\.ipynb", line) for line in header if "File to edit" in line), None
        )
        derived[name] = found.group(1) if found else "~"
    return sorted(names, key=lambda name: (derived[name], name))


def toctree(caption, entries):
    return "\n".join(["```{toctree}", f":caption: {caption}", ":maxdepth: 1", "", *entries, "```", ""])


def landing(main, appendices):
    intro = (ROOT / "README.md").read_text().split("\n\n")[1]  # the README's first paragraph
    return "\n".join(
        [
            "# perceiver_lite: the Perceiver and Perceiver IO, annotated",
            "",
            intro,
            "",
            "Read the main path in order; each notebook imports what the earlier ones exported. The "
            "appendices",
            "hold the engineering around the model. These pages show every notebook as committed, outputs "
            "included.",
            "",
            toctree("Main path", [f"notebooks/{nb.stem}" for nb in main]),
            toctree("Appendices", [f"notebooks/{nb.stem}" for nb in appendices]),
            toctree("Reference", ["api"]),
        ]
    )


def api_page():
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings of `perceiver_lite`, module by module, in the",
        "order of the notebooks that derive them.",
        "",
    ]
    for name in modules():
        lines += [
            f"## `perceiver_lite.{name}`",
            "",
            "```{eval-rst}",
            f".. automodule:: perceiver_lite.{name}",
            "```",
            "",
        ]
    return "\n".join(lines)


def assemble():
    "Write build/docs-src/ from the repository as it stands."
    shutil.rmtree(SOURCE, ignore_errors=True)
    (SOURCE / "notebooks").mkdir(parents=True)
    main, appendices = reading_order()
    for notebook in main + appendices:
        shown = strip_directives(json.loads(notebook.read_text()))
        (SOURCE / "notebooks" / notebook.name).write_text(
            json.dumps(shown, indent=1, ensure_ascii=False) + "\n"
        )
    for folder in ("figures", "results"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, SOURCE / folder)
    (SOURCE / "index.md").write_text(landing(main, appendices))
    (SOURCE / "api.md").write_text(api_page())
    return len(main) + len(appendices)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(ROOT / "build" / "site"), help="where the site goes")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    count = assemble()
    shutil.rmtree(args.out, ignore_errors=True)
    code = build_main(
        [
            "-b",
            "html",
            "-q",
            "-c",
            str(ROOT / "docs"),
            "-d",
            str(ROOT / "build" / "docs-doctrees"),
            str(SOURCE),
            args.out,
        ]
    )
    if code == 0:
        print(f"built {count} notebooks into {args.out} in {time.perf_counter() - start:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
