"""The long-window experiment of notebook 06b and its sweep (appendix A6f): the corpus split, the budget in
CPU seconds, the scoring of words seen elsewhere, the choice on validation and the resumable sweep."""

import csv

import pytest
import torch

from perceiver_lite.runner import long_context as sweep_cli
from perceiver_lite.tasks.long_context import (
    COLUMNS,
    MASK_ID,
    MODELS,
    learning_rate,
    python_sources,
    seen_elsewhere,
    source_files,
    split_of,
    train_for,
    window_config,
)


def test_split_is_by_module_and_stable():
    names = [f"pkg.module_{i}" for i in range(200)]
    splits = [split_of(name) for name in names]
    assert splits == [split_of(name) for name in names]
    assert 10 <= splits.count("test") <= 30 and 10 <= splits.count("validation") <= 30


def test_sources_leave_out_tests_and_split_apart(tmp_path):
    (tmp_path / "pkg" / "tests").mkdir(parents=True)
    for name in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"):
        (tmp_path / "pkg" / f"{name}.py").write_text(f"x_{name} = 1\n")
    (tmp_path / "pkg" / "tests" / "t.py").write_text("in_a_test_suite = 1\n")
    (tmp_path / "test_top.py").write_text("a_test = 1\n")
    assert not [p for p in source_files(tmp_path) if "test" in str(p.relative_to(tmp_path))]
    corpora = {split: python_sources(split, tmp_path) for split in ("train", "validation", "test")}
    assert b"in_a_test_suite" not in b"".join(corpora.values())
    for name in "abcdefghijkl":
        holders = [split for split, text in corpora.items() if f"x_{name} ".encode() in text]
        assert holders == [split_of(f"pkg.{name}")]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: split_of(""), "module must be a non-empty module name"),
        (lambda: python_sources("dev"), "split must be one of"),
        (lambda: source_files("/no/such/folder"), "root must be a directory"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_seen_elsewhere_needs_the_whole_word_visible_elsewhere():
    ids = torch.tensor([list(b"abc x abc abcd")])
    masked = ids.clone()
    masked[0, 6:9] = MASK_ID  # the second "abc": the first is visible
    assert seen_elsewhere(ids, masked)[0].tolist() == [i in (6, 7, 8) for i in range(ids.shape[1])]
    masked = ids.clone()
    masked[0, 10:14] = MASK_ID  # "abcd" appears nowhere else ("abc" is another word)
    assert not seen_elsewhere(ids, masked).any()


def test_learning_rate_warms_up_and_decays_over_the_budget():
    rates = [learning_rate(1.0, f / 100) for f in range(101)]
    assert rates[0] == 0 and rates[5] == pytest.approx(max(rates), rel=1e-6) and rates[-1] < 1e-12
    assert all(a <= b for a, b in zip(rates[:6], rates[1:6]))
    assert all(a >= b for a, b in zip(rates[5:], rates[6:]))


def test_training_stops_on_cpu_seconds_and_reports_every_point():
    corpus = bytes(range(32, 127)) * 40
    points = []
    model = MODELS["no_latents"](window_config(32))
    generator = torch.Generator().manual_seed(0)
    train_for(model, corpus, 0.3, 32, 4, 0.003, generator, lambda net, s, step: points.append((s, step)), 3)
    seconds = [s for s, _ in points]
    assert len(points) >= 3 and seconds == sorted(seconds)
    assert 0.3 <= seconds[-1] < 0.3 + 0.2  # one step past the budget at most (steps here take milliseconds)


def write(path, rows):
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)


def test_choice_is_the_best_last_validation_point(tmp_path):
    path = tmp_path / "choice.csv"
    common = dict(seed=0, window=512, budget=60)
    write(
        path,
        [
            dict(model="perceiver_io", lr=0.001, latents=64, cpu_seconds=30, val_accuracy=0.9, **common),
            dict(model="perceiver_io", lr=0.001, latents=64, cpu_seconds=60.1, val_accuracy=0.2, **common),
            dict(model="perceiver_io", lr=0.003, latents=128, cpu_seconds=60.4, val_accuracy=0.3, **common),
        ],
    )
    assert sweep_cli.chosen(path) == {"perceiver_io": (0.003, 128)}


def test_command_line_plans_the_grid_and_refuses_unpaired_budgets(tmp_path, capsys):
    args = sweep_cli._parser().parse_args(
        [
            "--out",
            "x.csv",
            "--windows",
            "512",
            "--budgets",
            "9",
            "--lrs",
            "0.001",
            "0.003",
            "--latents",
            "64",
            "128",
        ]
    )
    _, runs = sweep_cli.runs_of(args)
    per_model = {m: sum(r["model"] == m for r in runs) for m in MODELS}
    assert per_model == {"perceiver_io": 3 * 4, "no_latents": 3 * 2, "transformer": 3 * 2}
    with pytest.raises(SystemExit):
        sweep_cli.main(["--out", str(tmp_path / "x.csv"), "--windows", "512", "1024", "--budgets", "9"])
    assert "--budgets needs one value per window (2), got 1" in capsys.readouterr().err


def test_sweep_skips_the_runs_its_file_holds(tmp_path, monkeypatch):
    out = tmp_path / "sweep.csv"
    held = dict(model="no_latents", seed=0, window=64, lr=0.003, latents=64)
    write(out, [dict(held, cpu_seconds=1, step=1, val_accuracy=0.1, budget=1)])
    monkeypatch.setattr(sweep_cli, "cluster", lambda *a: pytest.fail("nothing was left to run"))
    assert sweep_cli.sweep([dict(held, budget=1)], out) == out
