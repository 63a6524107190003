"""Notebook hygiene: the notebook tests must never silently check nothing, and a notebook's defaults are
the run its stored outputs show."""

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9A][0-9]*_*.ipynb")
)  # main path and appendices


def load(path):
    return json.loads(path.read_text())


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 2, f"expected the numbered notebooks, found {[p.name for p in NOTEBOOKS]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_is_python3(path):
    assert load(path)["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_has_checked_cells_with_outputs(path):
    checked = [c for c in code_cells(load(path)) if "# NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    assert checked, f"{path.name} has no # NBVAL_CHECK_OUTPUT cell"
    for cell in checked:
        source = "".join(cell["source"]).splitlines()[1:3]
        assert cell["execution_count"] is not None, (
            f"{path.name}: checked cell {source} has no execution count"
        )
        assert cell["outputs"], f"{path.name}: checked cell {source} has no stored output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_executed(path):
    "nbval skips cells without an execution count, so every non-empty code cell must have one."
    missing = [
        c["source"][:1]
        for c in code_cells(load(path))
        if "".join(c["source"]).strip() and c["execution_count"] is None
    ]
    assert not missing, f"{path.name}: cells never executed: {missing}"
    errors = [o for c in code_cells(load(path)) for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path.name}: stored error outputs {[e['ename'] for e in errors]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell(path):
    tagged = [c for c in load(path)["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) <= 1, f"{path.name}: {len(tagged)} cells tagged parameters, expected at most one"
    source = "".join(tagged[0]["source"]) if tagged else ""
    if "save_figures" in source:
        assert "save_figures: bool = False" in source, f"{path.name}: figures must only be written when asked"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_default_exp_first(path):
    "Every notebook but the index exports a module, declared before any exported code."
    if path.name.startswith("00_"):
        return
    sources = ["".join(c["source"]) for c in code_cells(load(path))]
    exp = [i for i, s in enumerate(sources) if s.startswith("#| default_exp")]
    exports = [i for i, s in enumerate(sources) if s.startswith("#| export")]
    assert exp, f"{path.name} declares no #| default_exp"
    assert not exports or exp[0] < exports[0], f"{path.name}: #| default_exp must come before exported cells"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_sees_every_parameter(path):
    "papermill silently drops a parameter line it cannot parse (an '=' in its comment, for one)."
    from papermill.translators import PythonTranslator

    tagged = [c for c in load(path)["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        return
    source = "".join(tagged[0]["source"])
    declared = [
        line.split(":")[0].split("=")[0].strip()
        for line in source.splitlines()
        if line.strip() and not line.startswith((" ", "#", "from ", "import "))
    ]
    seen = [p.name for p in PythonTranslator.inspect({"source": source})]
    assert seen == declared, f"{path.name}: papermill parses {seen} from a cell declaring {declared}"


NOT_THE_RUN = {"save_figures", "figures_dir", "results_dir", "progress"}  # where outputs go, not what is run


def stored_parameters(notebook):
    """The parameters `make reproduce` passed besides the defaults, read from the stored-run note; None if no
    note."""
    notes = [
        cell
        for cell in notebook["cells"]
        if cell["cell_type"] == "markdown" and "".join(cell["source"]).startswith("*Stored outputs:")
    ]
    if not notes:
        return None
    passed = re.search(
        r"`make reproduce`(?:, with its defaults)?(?: \(([^)]*)\))?", "".join(notes[0]["source"])
    )
    pairs = re.findall(r"(\w+)=(.+?)(?=, \w+=|$)", (passed.group(1) or "") if passed else "")
    return {name: ast.literal_eval(value) for name, value in pairs}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_defaults_are_the_stored_run(path, monkeypatch):
    "A reader who runs a notebook as it opens gets the run its stored outputs (and prose) describe."
    notebook = load(path)
    tagged = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        return
    passed = stored_parameters(notebook)
    assert passed is not None, f"{path.name} has a parameters cell but no note saying which run it stores"
    monkeypatch.delenv("PERCEIVER_LITE_TEST_SIZE", raising=False)
    defaults = {}
    exec("".join(tagged[0]["source"]), defaults)
    differing = {
        name: value
        for name, value in passed.items()
        if name not in NOT_THE_RUN and defaults.get(name, "(undeclared)") != value
    }
    assert not differing, (
        f"{path.name}: its stored run was made with {differing}, but its defaults are "
        f"{ {name: defaults.get(name, '(undeclared)') for name in differing} }"
    )


def test_test_size_shrinks_the_runs(monkeypatch):
    "Under make test (PERCEIVER_LITE_TEST_SIZE=1) a sized parameter takes its second value."
    from perceiver_lite.runner.parameters import TEST_SIZE, sized

    monkeypatch.setenv(TEST_SIZE, "1")
    assert sized(2000, 60) == 60
    monkeypatch.setenv(TEST_SIZE, "0")
    assert sized(2000, 60) == 2000
