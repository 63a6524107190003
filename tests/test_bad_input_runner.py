"""The runner's doors: names that become paths stay inside their folder, and a smoke run of the sweeps
writes under build/ only, never over the committed results/ and figures/."""

import pytest

from perceiver_lite.runner import experiments
from perceiver_lite.runner.parameters import check_name


@pytest.mark.parametrize("name", ["../escape", "a/b", "/tmp/x", "..", "", ".hidden", "a b", "x\\y", None, 3])
def test_a_sweep_name_that_would_leave_results_is_refused(name):
    with pytest.raises(ValueError, match="stays inside results/"):
        check_name(name)


@pytest.mark.parametrize("name", ["latents", "weight_decay", "augment-seeds", "run.2"])
def test_ordinary_names_pass(name):
    assert check_name(name) == name


def test_sweep_refuses_a_climbing_name_before_running_anything(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "repository", lambda: tmp_path)
    with pytest.raises(ValueError, match="got '../../outside'"):
        experiments.sweep("../../outside", {"model": ["mlp"]}, {"steps": 1})
    assert not (tmp_path / "build").exists() and not list(tmp_path.parent.glob("outside*"))


def test_cli_refuses_a_climbing_name(capsys):
    with pytest.raises(SystemExit) as stop:
        experiments.main(["sweep", "--param", "seed=0,1", "--name", "../../results/x"])
    assert stop.value.code == 2 and "stays inside results/" in capsys.readouterr().err


def test_a_quick_reproduction_writes_under_build_only(tmp_path, monkeypatch):
    """reproduce(quick_run=True) sends every sweep's CSV and figure to build/quick/ (sweeps stubbed: no
    training)."""
    monkeypatch.setattr(experiments, "repository", lambda: tmp_path)
    written = []

    def fake_sweep(name, swept, fixed, workers, scheduler=None, force=False, results=None):
        written.append(results / f"{name}.csv")
        return [], {}

    monkeypatch.setattr(experiments, "sweep", fake_sweep)
    monkeypatch.setattr(experiments, "plot_sweep", lambda records, swept, path: written.append(path))
    monkeypatch.setattr(experiments, "report", lambda *args: None)
    experiments.reproduce(quick_run=True)
    assert written and all(path.is_relative_to(tmp_path / "build" / "quick") for path in written), written
    experiments.reproduce(quick_run=False)
    assert any(path == tmp_path / "results" / "latents.csv" for path in written)
