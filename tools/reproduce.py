"""Execute every notebook top to bottom at full size with papermill and rewrite figures/.

Executed copies go to build/reproduce/ (scratch, not committed); each notebook gets its own progress
bar over its cells. Ends with a summary of run times and of the figures written."""
import argparse
import sys
import time
from pathlib import Path

import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS, FIGURES, SCRATCH = ROOT / "notebooks", ROOT / "figures", ROOT / "build" / "reproduce"


def parameters_of(notebook):
    "The names declared in the notebook's `parameters` cell."
    return set(pm.inspect_notebook(str(notebook)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="notebook name prefixes to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="keep test-sized defaults (smoke run)")
    args = parser.parse_args(argv)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    FIGURES.mkdir(exist_ok=True)
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.names:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(n) for n in args.names)]
    wanted = {"quick": args.quick, "save_figures": True, "figures_dir": str(FIGURES),
              "progress": False, "results_dir": str(SCRATCH)}
    summary, started = [], time.time()
    for notebook in notebooks:
        params = {k: v for k, v in wanted.items() if k in parameters_of(notebook)}
        before = {p: p.stat().st_mtime for p in FIGURES.glob("*")}
        start = time.time()
        print(f"== {notebook.name}  {params}", flush=True)
        pm.execute_notebook(str(notebook), str(SCRATCH / notebook.name), parameters=params,
                            cwd=str(NOTEBOOKS), progress_bar=True, kernel_name="python3")
        written = sorted(p.name for p in FIGURES.glob("*") if before.get(p) != p.stat().st_mtime)
        summary.append((notebook.name, time.time() - start, written))
    print("\nnotebook                          seconds  figures written")
    for name, seconds, written in summary:
        print(f"{name:<32} {seconds:8.1f}  {', '.join(written) or '-'}")
    print(f"total {time.time() - started:.1f} s; executed copies in {SCRATCH.relative_to(ROOT)}/")


if __name__ == "__main__":
    sys.exit(main())
