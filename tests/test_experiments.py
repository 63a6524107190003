"""perceiver_lite.tasks.training (the baselines, the shuffle, the recipe) and
perceiver_lite.runner.experiments (the papermill runner: run, sweep, results files, figures, errors)."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from perceiver_lite.runner import experiments
from perceiver_lite.runner.experiments import run_point
from perceiver_lite.runner.parameters import (
    check_parameters,
    declared_parameters,
    grid,
    parse_assignments,
    point_settings,
)
from perceiver_lite.runner.results import read_results, write_csv
from perceiver_lite.runner.scale import point_model
from perceiver_lite.tasks.training import (
    MODEL_KINDS,
    CNNClassifier,
    CNNClassifierConfig,
    MLPClassifier,
    MLPClassifierConfig,
    Shuffled,
    build_model,
    circular_shift,
    jitter,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"model": "perceiver", "num_latents": 4, "latent_dim": 16, "num_bands": 4, "steps": 5}
RECORD_KEYS = {
    "model",
    "shuffle",
    "seed",
    "steps",
    "num_latents",
    "test_accuracy",
    "train_accuracy",
    "num_parameters",
    "train_seconds",
    "wall_seconds",
    "threads",
}


def env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "agg"}


@pytest.mark.parametrize(
    "baseline",
    [
        MLPClassifier(MLPClassifierConfig()),
        CNNClassifier(CNNClassifierConfig()),
        build_model("perceiver", num_latents=4, latent_dim=16),
    ],
)
def test_models_give_logits(baseline):
    assert baseline(torch.randn(3, 40, 1)).shape == (3, 10)


def test_baselines_take_other_lengths():
    inputs = torch.randn(2, 64, 1)
    assert build_model("mlp", 64)(inputs).shape == build_model("cnn", 64)(inputs).shape == (2, 10)
    assert build_model("cnn", 64).config == CNNClassifierConfig(length=64)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize(
    "inputs, error, message",
    [
        (torch.randn(3, 40), ValueError, r"inputs must be \(B, 40, 1\), got \(3, 40\)"),
        (torch.randn(3, 32, 1), ValueError, r"inputs must be \(B, 40, 1\), got \(3, 32, 1\)"),
        (torch.randn(3, 40, 2), ValueError, r"inputs must be \(B, 40, 1\), got \(3, 40, 2\)"),
        (torch.full((2, 40, 1), float("nan")), ValueError, "inputs must be finite"),
        (torch.randn(0, 40, 1), ValueError, "at least one example"),
        ([[0.0] * 40], TypeError, r"inputs must be a torch.Tensor \(B, 40, 1\), got list"),
    ],
)
def test_baselines_check_inputs_at_the_door(kind, inputs, error, message):
    with pytest.raises(error, match=message):
        build_model(kind)(inputs)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match=rf"model must be one of {re.escape(str(MODEL_KINDS))}, got 'gru'"):
        build_model("gru")


def test_shuffled_perceiver_is_the_same_function():
    torch.manual_seed(0)
    model = build_model("perceiver", num_latents=4, latent_dim=16).eval()
    inputs = torch.randn(5, 40, 1)
    shuffled = Shuffled(model, torch.randperm(40))
    torch.testing.assert_close(shuffled(inputs), model(inputs), atol=1e-5, rtol=1e-5)
    cnn = CNNClassifier(CNNClassifierConfig()).eval()
    assert not torch.allclose(Shuffled(cnn, torch.randperm(40))(inputs), cnn(inputs))


def test_circular_shift_rolls_each_sequence():
    inputs = torch.arange(40.0).reshape(1, 40, 1).repeat(4, 1, 1)
    rolled = circular_shift(inputs, 5, torch.Generator().manual_seed(0))
    for row in rolled[..., 0]:
        shift = int(row[0]) and 40 - int(row[0])
        assert torch.equal(row, torch.roll(inputs[0, :, 0], shift))


def test_jitter_scales_each_sequence_within_bounds_and_is_free_when_off():
    inputs = torch.ones(64, 40, 1)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert jitter(inputs, 0.0, 0.0, generator) is inputs and torch.equal(
        generator.get_state(), state
    )  # no draws
    scaled = jitter(inputs, 0.2, 0.0, generator)[..., 0]  # (64, 40): one factor per sequence
    assert torch.equal(scaled, scaled[:, :1].expand(-1, 40))
    assert 0.8 <= scaled.min() < 0.9 and 1.1 < scaled.max() <= 1.2
    noisy = jitter(inputs, 0.0, 0.5, generator) - inputs
    assert abs(noisy.std().item() - 0.5) < 0.05 and abs(noisy.mean().item()) < 0.05


def test_point_model_builds_the_kind_and_configuration_of_the_point():
    perceiver = point_model(point_settings(TINY))
    assert (
        perceiver.config.num_latents == 4
        and perceiver.config.latent_dim == 16
        and perceiver.config.num_bands == 4
    )
    assert perceiver.config.max_resolution == (point_settings({})["max_resolution"],)
    assert isinstance(point_model(point_settings({"model": "cnn"})), CNNClassifier)


def test_parameters_are_checked_and_typed():
    declared = declared_parameters()
    assert parse_assignments(["num_latents=8,16", "shuffle=True", "lr=0.01"], declared, many=True) == {
        "num_latents": [8, 16],
        "shuffle": [True],
        "lr": [0.01],
    }
    with pytest.raises(ValueError, match="unknown parameter 'latents'.*num_latents"):
        check_parameters(["latents"], declared)
    with pytest.raises(ValueError, match="expected True or False"):
        parse_assignments(["shuffle=maybe"], declared)
    assert grid({"a": [1, 2], "b": ["x"]}, {"c": 0}) == [
        {"c": 0, "a": 1, "b": "x"},
        {"c": 0, "a": 2, "b": "x"},
    ]


@pytest.mark.slow
def test_cli_rejects_unknown_parameter():
    result = subprocess.run(
        [sys.executable, "-m", "perceiver_lite.runner.experiments", "sweep", "--param", "num_latent=8,16"],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "unknown parameter 'num_latent'" in result.stderr and "num_latents" in result.stderr


@pytest.mark.slow
def test_notebook_rejects_unknown_model(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="model must be one of"):
        run_point({"model": "gru", "steps": 1}, tmp_path / "bad.ipynb", tmp_path / "bad.json")


@pytest.mark.slow
def test_run_writes_a_record(tmp_path):
    record = run_point(TINY, tmp_path / "point.ipynb", tmp_path / "point.json")
    assert RECORD_KEYS <= set(record)
    assert record["steps"] == 5 and record["num_latents"] == 4 and 0 <= record["test_accuracy"] <= 1
    assert json.loads((tmp_path / "point.json").read_text()) == record
    assert (tmp_path / "point.ipynb").exists()


@pytest.mark.slow
def test_sweep_collects_a_csv(tmp_path, monkeypatch):
    real_notebook = experiments.notebook_path()
    monkeypatch.setattr(experiments, "repository", lambda: tmp_path)
    monkeypatch.setattr(experiments, "notebook_path", lambda: real_notebook)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    swept = {"model": ["mlp", "cnn"]}
    (tmp_path / "perceiver_lite").symlink_to(ROOT / "perceiver_lite")  # the code the cache keys digest
    records, failures = experiments.sweep("tiny", swept, {"steps": 3})
    assert not failures
    with open(tmp_path / "results" / "tiny.csv") as file:
        rows = list(csv.DictReader(file))
    assert [row["model"] for row in rows] == ["mlp", "cnn"] and RECORD_KEYS <= set(rows[0])
    assert sorted(p.name for p in (tmp_path / "build" / "experiments" / "tiny").glob("*.ipynb")) == [
        "model-cnn.ipynb",
        "model-mlp.ipynb",
    ]
    experiments.plot_sweep(records, swept, tmp_path / "tiny.png")
    assert (tmp_path / "tiny.png").stat().st_size > 0


def test_results_files_round_trip_their_types(tmp_path):
    records = [
        {
            "model": "cnn",
            "shuffle": True,
            "seed": 2,
            "test_accuracy": 0.875,
            "max_resolution": 5.0,
            "note": "x",
        }
    ]
    write_csv(records, tmp_path / "r.csv")
    assert read_results(tmp_path / "r.csv") == records


@pytest.mark.parametrize("name", ["shuffle", "latents", "cross_attends", "bands", "resolution", "shift"])
def test_committed_results_are_full_size(name):
    records = read_results(ROOT / "results" / f"{name}.csv")
    steps = {record["steps"] for record in records}
    assert min(steps) >= 1000 and all(0 <= record["test_accuracy"] <= 1 for record in records)


def test_figures_have_ticks_at_the_swept_values(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("agg")
    records = read_results(ROOT / "results" / "resolution.csv")
    figure = experiments.plot_sweep(
        records, {"max_resolution": [5.0, 10.0, 20.0, 40.0, 80.0], "seed": [0, 1]}
    )
    axes = figure.axes[0]
    assert list(axes.get_xticks()) == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["5", "10", "20", "40", "80"]
    monkeypatch.setattr(experiments, "repository", lambda: ROOT)
    written = experiments.draw_figures(tmp_path)
    assert {path.name for path in written} == {
        f"11_{name}.png"
        for name in (
            "shuffle",
            "latents",
            "cross_attends",
            "bands",
            "resolution",
            "shift",
            "weight_decay",
            "augment",
        )
    }


def test_a_sweep_over_seeds_alone_is_reported(capsys):
    records = read_results(ROOT / "results" / "augment_seeds.csv")
    experiments.report("augment_seeds", records, {"seed": [1, 2]})
    out = capsys.readouterr().out
    assert "augment_seeds: seeds" in out and f"(n={len(records)})" in out
