"""Beyond one process (appendix A6): sweeps on a Dask cluster give the same records as a sequential run,
a failing point is reported without stopping the sweep, a worker killed mid-point does not lose its
point, cached points are skipped, and DistributedDataParallel under torchrun takes the same steps as
one process with the whole batch."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import free_port, kill_leftovers

from perceiver_lite.runner import experiments
from perceiver_lite.runner.digests import imported_modules, point_key, source_digest
from perceiver_lite.runner.experiments import expected_seconds, plan, remember, run_point
from perceiver_lite.runner.results import read_results

pytestmark = pytest.mark.slow  # minutes: kept out of the fast subset (pytest -m "not slow")

ROOT = Path(__file__).resolve().parents[1]
SWEPT = {"model": ["mlp", "cnn"], "seed": [0, 1]}
FIXED = {"steps": 3}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    "The runner writing into tmp_path (cache, results, executed notebooks), kernels with one thread."
    notebook = experiments.notebook_path()
    monkeypatch.setattr(experiments, "repository", lambda: tmp_path)
    monkeypatch.setattr(experiments, "notebook_path", lambda: notebook)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))  # marks the kernels this test starts
    (tmp_path / "perceiver_lite").symlink_to(ROOT / "perceiver_lite")  # the code the cache keys digest
    yield tmp_path
    kill_leftovers(str(tmp_path / "runtime"))


def test_cluster_sweep_equals_sequential_reports_failures_and_resumes(isolated, capsys):
    points = experiments.grid(SWEPT, FIXED)
    broken = {"model": "gru", "seed": 0, "steps": 3}  # the notebook raises: no such model
    records, failures = experiments.sweep("pair", SWEPT, workers=2, points=points + [broken])
    printed = capsys.readouterr().out
    assert list(failures) == ["model-gru_seed-0"] and "model must be one of" in failures["model-gru_seed-0"]
    assert not (isolated / "results" / "pair.csv").exists(), (
        "a sweep with a failed point must not write its CSV"
    )
    assert "5 points, 0 cached, 5 to run" in printed and "Dask dashboard at http://127.0.0.1:" in printed
    sequential = [
        run_point(point, isolated / f"s{i}.ipynb", isolated / f"s{i}.json") for i, point in enumerate(points)
    ]
    on_cluster = [(r["model"], r["seed"], r["test_accuracy"]) for r in records]
    alone = [(r["model"], r["seed"], r["test_accuracy"]) for r in sequential]
    print("cluster:", on_cluster, "\nsequential:", alone)
    assert on_cluster == alone
    start = time.perf_counter()
    # every point cached: no cluster at all
    again, failures = experiments.sweep("pair", SWEPT, FIXED, workers=2)
    assert "4 points, 4 cached, 0 to run" in capsys.readouterr().out and not failures
    assert again == records and time.perf_counter() - start < 10
    written = read_results(isolated / "results" / "pair.csv")
    assert [(r["model"], r["seed"]) for r in written] == [("mlp", 0), ("mlp", 1), ("cnn", 0), ("cnn", 1)]


def _executed_cells(path):
    "How many code cells of a notebook that papermill is writing have run (0 while it is unreadable)."
    try:
        return sum(1 for cell in json.loads(path.read_text())["cells"] if cell.get("execution_count"))
    except (OSError, ValueError, KeyError):
        return 0


def _lost_tasks(dask_scheduler):
    "Tasks whose worker died while running them (Dask counts them as suspicious and runs them again)."
    return {str(key): task.suspicious for key, task in dask_scheduler.tasks.items() if task.suspicious}


def test_a_worker_killed_mid_point_does_not_lose_the_point(isolated):
    from dask.distributed import Client, LocalCluster

    swept, folder = {"model": ["mlp", "cnn"]}, isolated / "build" / "experiments" / "kill"
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        outcome = {}
        runner = threading.Thread(
            target=lambda: outcome.update(
                result=experiments.sweep("kill", swept, {"steps": 50}, scheduler=cluster.scheduler_address)
            )
        )
        runner.start()
        deadline, victim = time.time() + 120, None
        # wait for a worker holding a point whose notebook is executing
        while victim is None and time.time() < deadline:
            busy = [worker for worker, tasks in client.processing().items() if tasks]
            running = [path for path in folder.glob("*.ipynb") if _executed_cells(path) >= 2]
            victim = busy[0] if busy and running and not list(folder.glob("*.json")) else None
            time.sleep(0.2)
        assert victim, "no point was executing its notebook within two minutes"
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        lost, deadline = {}, time.time() + 60
        while not lost and time.time() < deadline:  # the scheduler notices and reschedules the victim's point
            lost = client.run_on_scheduler(_lost_tasks)
            time.sleep(0.2)
        runner.join(timeout=600)
    records, failures = outcome["result"]
    print(
        f"killed worker {victim} (pid {pid}) mid-point; tasks run again: {lost}; "
        f"records: {[(r['model'], r['test_accuracy']) for r in records]}"
    )
    assert len(lost) == 1, (
        f"the killed worker should have been running exactly one point, the scheduler lost {lost}"
    )
    assert not failures and [r["model"] for r in records] == ["mlp", "cnn"]


def test_cache_keys_and_the_plan(tmp_path, monkeypatch):
    digest = source_digest([experiments.notebook_path()])
    monkeypatch.setattr(experiments, "repository", lambda: tmp_path)
    assert point_key({"a": 1, "b": 2}, digest) == point_key({"b": 2, "a": 1}, digest)
    assert point_key({"a": 1}, digest) != point_key({"a": 2}, digest) != point_key({"a": 2}, digest + "x")
    assert expected_seconds(["s/a"], 2) is None and "no earlier run" in plan("s", 3, 0, None)
    remember("k1", {"label": "s/a", "record": {}, "seconds": 30.0})
    remember("k2", {"label": "s/b", "record": {}, "seconds": 10.0})
    assert (
        expected_seconds(["s/a", "s/b", "s/new"], 1) == 30.0 + 10.0 + 30.0
    )  # a new point: the median (upper) of known
    assert expected_seconds(["s/a", "s/b"], 2) == 20.0
    assert plan("s", 5, 2, 20.0) == "s: 5 points, 2 cached, 3 to run; about 20 s expected from earlier runs"
    assert plan("s", 4, 4, None) == "s: 4 points, 4 cached, 0 to run"  # no estimate when nothing runs
    assert (
        expected_seconds(["s/new", "s/newer"], 2) == 30.0 and expected_seconds(["t/new"], 1) is None
    )  # by its sweep


def test_a_notebooks_digest_covers_the_modules_it_imports():
    modules = {path.stem for path in imported_modules(experiments.notebook_path())}
    print("notebook 11 imports, directly or not:", sorted(modules))
    assert {"experiments", "training", "perceiver", "attention", "__init__"} <= modules
    assert (
        "flow" not in modules and "pretrained" not in modules
    )  # the optical flow module cannot stale its records


def _train(tmp_path, name, batch, processes=1):
    out = tmp_path / f"{name}.safetensors"
    args = [
        "-m",
        "perceiver_lite.runner.experiments",
        "train",
        "--set",
        "steps=4",
        "--set",
        f"batch_size={batch}",
        "--set",
        "num_latents=8",
        "--set",
        "latent_dim=16",
        "--out",
        str(out),
    ]
    if processes > 1:
        args = [
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={processes}",
            "--nnodes=1",
            f"--rdzv-endpoint=127.0.0.1:{free_port()}",
            "--rdzv-backend=c10d",
            *args,
        ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    from safetensors.torch import load_file

    return load_file(str(out))


def test_two_processes_take_the_same_steps_as_one_with_the_whole_batch(tmp_path):
    two = _train(tmp_path, "two", 64, processes=2)
    one = _train(tmp_path, "one", 128)
    half = _train(tmp_path, "half", 64)  # one process, half the batch: the other process's rows do matter
    assert set(two) == set(one) == set(half)
    # A key's bias adds the same number to every score of a query, which the softmax ignores: its gradient is
    # zero in
    # exact arithmetic, so it holds only rounding noise, and AdamW scales any gradient, noise too, to steps of
    # about
    # the learning rate. Those biases are compared on their own, with a tolerance of the size of one step (lr
    # = 3e-3).
    key_bias = {name for name in one if name.endswith("to_k.bias")}
    gap = max((two[name] - one[name]).abs().max().item() for name in set(one) - key_bias)
    bias_gap = max((two[name] - one[name]).abs().max().item() for name in key_bias)
    other = max((half[name] - one[name]).abs().max().item() for name in set(one) - key_bias)
    print(
        f"largest weight difference after 4 steps: 2 processes × 64 vs 1 × 128: {gap:.2e} "
        f"(key biases {bias_gap:.2e}); 1 × 64 vs 1 × 128: {other:.2e}"
    )
    assert gap < 1e-5 and bias_gap < 3e-3 and other > 1e-3
