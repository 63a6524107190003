"""Execute every notebook top to bottom at full size with papermill, rewrite figures/, and store the
executed notebooks back into notebooks/ so that what a reader opens is the full-size run.

A notebook's defaults are the run its prose describes, so a notebook runs here with its defaults; only
where figures and results go is passed (`save_figures`, `figures_dir`, `results_dir`: results land in
results/, where the prose quotes them). Executed copies first go to build/reproduce/ (scratch). Storing
one back drops papermill's injected parameters cell and puts a one-line note after the parameters cell
saying which run the outputs come from. Figures are drawn with the inline backend so that they are
stored in the notebook too.

`--quick` is a smoke run: PERCEIVER_LITE_TEST_SIZE=1 makes every notebook take its test size (the
second value of each `sized(full, test)` parameter), nothing is stored back, and figures and results go
under build/reproduce/, so nothing committed is overwritten by test-sized numbers.

A notebook whose source, parameters and code are unchanged since its last stored run is skipped
(`--force` runs it again): the key is the digest of its cells' sources (outputs and the stored-run
note excluded), of the package modules it imports (directly or through other modules), of the
`results/*.csv` files it names and of the parameters, kept in build/cache/notebooks/.
Seconds per notebook go to build/reproduce/notebook_times.csv; `--times` merges them with the sweeps'
(build/reproduce/sweep_times.csv) into results/reproduce_times.csv and prints the table.

    python tools/reproduce.py [NAME_PREFIX ...] [--quick] [--no-store] [--force]
    python tools/reproduce.py --times
"""

import argparse
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import papermill as pm

from perceiver_lite.runner.digests import NOTE, imported_modules, source_digest
from perceiver_lite.runner.parameters import TEST_SIZE
from perceiver_lite.runner.results import read_results, write_csv

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS, FIGURES, SCRATCH = ROOT / "notebooks", ROOT / "figures", ROOT / "build" / "reproduce"
CACHE = ROOT / "build" / "cache" / "notebooks"


def parameters_of(notebook):
    "The names declared in the notebook's `parameters` cell."
    return set(pm.inspect_notebook(str(notebook)))


def store(executed, target, params):
    "Copy an executed notebook over its source: without the injected parameters, with a note on the run."
    notebook = json.loads(executed.read_text())
    cells = [
        c for c in notebook["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])
    ]
    for cell in cells:
        cell.get("metadata", {}).pop("papermill", None)
    notebook["metadata"].pop("papermill", None)
    cells = [c for c in cells if not (c["cell_type"] == "markdown" and "".join(c["source"]).startswith(NOTE))]
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    note = {"cell_type": "markdown", "id": "stored-run", "metadata": {}, "source": stored_note(params)}
    cells.insert(tagged[0] + 1 if tagged else 1, note)
    notebook["cells"] = cells
    target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def stored_note(params):
    "The note's lines: the parameters passed besides the defaults (tests/test_notebooks.py reads them back)."
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if not k.endswith("_dir"))
    return [
        f"{NOTE} this notebook as executed by `make reproduce`, with its defaults"
        + (f" ({shown})" if shown else "")
        + ". Under `make test` the same\n",
        "cells run again at their test sizes (PERCEIVER_LITE_TEST_SIZE=1), and only the checked cells are "
        "compared.*",
    ]


def run_key(notebook, params):
    """What decides a stored run: the notebook's source, the modules it imports, the results it reads, the
    parameters."""
    results = sorted(
        {ROOT / "results" / f"{name}.csv" for name in re.findall(r"results/(\w+)\.csv", notebook.read_text())}
    )
    code = source_digest(
        [notebook, *imported_modules(notebook), *(path for path in results if path.exists())]
    )
    return hashlib.sha256((code + json.dumps(params, sort_keys=True)).encode()).hexdigest()


def report_times():
    """results/reproduce_times.csv: the seconds of every notebook and sweep of the last `make reproduce`,
    printed."""
    rows = [
        row
        for name in ("notebook_times.csv", "sweep_times.csv")
        if (SCRATCH / name).exists()
        for row in read_results(SCRATCH / name)
    ]
    write_csv(rows, ROOT / "results" / "reproduce_times.csv")
    print(f"\n{'part':<42} {'seconds':>8}  cached")
    for row in rows:
        print(f"{row['part']:<42} {row['seconds']:8.1f}  {row.get('cached', '')}")
    print(f"{'total':<42} {sum(row['seconds'] for row in rows):8.1f}  (results/reproduce_times.csv)")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="notebook name prefixes to run (default: all)")
    parser.add_argument(
        "--quick", action="store_true", help="test-sized smoke run, written under build/ only"
    )
    parser.add_argument("--no-store", action="store_true", help="leave notebooks/ as it is")
    parser.add_argument(
        "--force", action="store_true", help="run notebooks whose stored run is up to date too"
    )
    parser.add_argument(
        "--times", action="store_true", help="only write and print results/reproduce_times.csv"
    )
    args = parser.parse_args(argv)
    if args.times:
        return report_times()
    figures, results = (
        (SCRATCH / "figures", SCRATCH / "results") if args.quick else (FIGURES, ROOT / "results")
    )
    for folder in (SCRATCH, figures, results):
        folder.mkdir(parents=True, exist_ok=True)
    os.environ["MPLBACKEND"] = (
        "module://matplotlib_inline.backend_inline"  # kernels inherit it: figures are stored
    )
    if args.quick:
        os.environ[TEST_SIZE] = "1"  # kernels inherit it: every notebook runs at its test size
    else:
        os.environ.pop(TEST_SIZE, None)  # the reader's run, whatever the calling shell says
    notebooks = sorted(NOTEBOOKS.glob("[0-9A][0-9]*_*.ipynb"))
    if args.names:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(n) for n in args.names)]
    wanted = {
        "save_figures": True,
        "figures_dir": str(figures),
        "progress": False,
        "results_dir": str(results),
    }
    summary, started = [], time.time()
    for notebook in notebooks:
        params = {k: v for k, v in wanted.items() if k in parameters_of(notebook)}
        key, cached = run_key(notebook, params), CACHE / f"{notebook.stem}.json"
        storing = not (args.no_store or args.quick)
        if storing and not args.force and cached.exists() and json.loads(cached.read_text())["key"] == key:
            print(f"== {notebook.name}  stored run up to date, skipped (--force runs it)", flush=True)
            summary.append((notebook.name, 0.0, [], True))
            continue
        before = {p: p.stat().st_mtime for p in figures.glob("*")}
        start = time.time()
        print(f"== {notebook.name}  {params}", flush=True)
        pm.execute_notebook(
            str(notebook),
            str(SCRATCH / notebook.name),
            parameters=params,
            cwd=str(NOTEBOOKS),
            progress_bar=True,
            kernel_name="python3",
        )
        if storing:
            store(SCRATCH / notebook.name, notebook, {k: v for k, v in params.items() if k != "progress"})
            CACHE.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps({"key": key, "seconds": time.time() - start}))
        written = sorted(p.name for p in figures.glob("*") if before.get(p) != p.stat().st_mtime)
        summary.append((notebook.name, time.time() - start, written, False))
    print("\nnotebook                          seconds  figures written")
    for name, seconds, written, skipped in summary:
        print(f"{name:<32} {seconds:8.1f}  {'(up to date)' if skipped else ', '.join(written) or '-'}")
    write_csv(
        [
            {"part": f"notebook {name}", "seconds": round(seconds, 1), "cached": skipped}
            for name, seconds, _, skipped in summary
        ],
        SCRATCH / "notebook_times.csv",
    )
    print(
        f"total {time.time() - started:.1f} s; executed copies in {SCRATCH.relative_to(ROOT)}/"
        + ("" if args.no_store or args.quick else "; stored back into notebooks/")
    )


if __name__ == "__main__":
    sys.exit(main())
