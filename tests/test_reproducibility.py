"""Seeded runs repeat bit for bit on the CPU: the same seed gives the same metrics and the same weights,
another seed gives other weights, and a run resumed from a checkpoint continues as if never stopped."""

import hashlib
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from perceiver_lite.perceiver import Perceiver, PerceiverConfig
from perceiver_lite.tasks.training import seed_everything
from perceiver_lite.weights.checkpoint import load, save

ROOT = Path(__file__).resolve().parents[1]
CONFIG = PerceiverConfig(num_latents=8, latent_dim=16, num_self_heads=2, num_bands=8)


@pytest.fixture(autouse=True)
def one_thread():
    "Bit-identical runs need the same thread count; one thread also keeps a busy machine fast."
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def mnist1d():
    "A slice of MNIST-1D, generated (its generator takes its own fixed seed), normalised."
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = 600
    data = make_dataset(args)
    inputs = torch.tensor(data["x"], dtype=torch.float32)[..., None]  # (480, 40, 1)
    return (inputs - inputs.mean()) / inputs.std(), torch.tensor(data["y"])


def train(model, inputs, labels, steps, batch_size=32, optimizer=None):
    "`steps` of training drawing on all three generators: Python picks batches, NumPy adds noise."
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(steps):
        batch = torch.tensor(random.sample(range(len(inputs)), batch_size))
        noise = torch.from_numpy(np.random.normal(0, 0.05, (batch_size, 40, 1)).astype(np.float32))
        loss = nn.functional.cross_entropy(model(inputs[batch] + noise), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def run(seed, data, steps=20):
    "A whole quick run from a seed: `(model, training losses, test accuracy)`."
    seed_everything(seed)
    model = Perceiver(CONFIG)  # torch draws the initialisation
    losses = train(model, *data, steps)
    model.eval()
    with torch.no_grad():
        accuracy = (model(data[0][:200]).argmax(-1) == data[1][:200]).float().mean().item()
    return model, losses, accuracy


def weights_equal(first, second):
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def test_same_seed_same_metrics_and_weights(mnist1d):
    model, losses, accuracy = run(0, mnist1d)
    again, losses_again, accuracy_again = run(0, mnist1d)
    assert losses == losses_again and accuracy == accuracy_again
    assert weights_equal(model, again)


def test_other_seed_other_weights(mnist1d):
    model, losses, _ = run(0, mnist1d)
    other, other_losses, _ = run(1, mnist1d)
    assert losses != other_losses
    assert not any(torch.equal(p, q) for p, q in zip(model.parameters(), other.parameters()) if p.numel() > 1)


@pytest.mark.parametrize(
    "draw",
    [lambda: random.random(), lambda: np.random.rand(), lambda: torch.rand(1).item()],
    ids=["python", "numpy", "torch"],
)
def test_seed_everything_seeds_each_generator(draw):
    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert draw() != first


def test_resumed_run_matches_uninterrupted_run(mnist1d, tmp_path):
    "Stop after 10 steps, save, load, go on: the same weights as 20 steps in one go (SGD keeps no state)."
    seed_everything(0)
    straight = Perceiver(CONFIG)
    sgd = lambda model: torch.optim.SGD(model.parameters(), lr=0.05)
    train(straight, *mnist1d, 10, optimizer=sgd(straight))
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    path = save(straight, tmp_path / "step10.safetensors")
    train(straight, *mnist1d, 10, optimizer=sgd(straight))

    resumed = load(path)
    random.setstate(state[0]), np.random.set_state(state[1]), torch.set_rng_state(state[2])
    train(resumed, *mnist1d, 10, optimizer=sgd(resumed))
    assert weights_equal(straight, resumed)


FRESH_PROCESS = textwrap.dedent("""
    import sys, random, numpy as np, torch
    from torch import nn
    from perceiver_lite.weights.checkpoint import save
    from perceiver_lite.tasks.training import seed_everything
    from perceiver_lite.perceiver import Perceiver, PerceiverConfig

    seed_everything(int(sys.argv[2]))
    model = Perceiver(PerceiverConfig(num_latents=8, latent_dim=16, num_self_heads=2, num_bands=8))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    inputs = torch.from_numpy(np.random.randn(64, 40, 1).astype(np.float32))
    labels = torch.tensor([random.randrange(10) for _ in range(64)])
    for _ in range(5):
        loss = nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    save(model, sys.argv[1])
""")


@pytest.mark.slow
def test_fresh_processes_write_byte_identical_checkpoints(tmp_path):
    "Nothing hidden in a process (hash seeds, caches) changes a seeded run: equal seeds, equal files."
    digests = []
    for name, hash_seed, seed in (("a", "1", "7"), ("b", "2", "7"), ("c", "1", "8")):
        path = tmp_path / f"{name}.safetensors"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
        result = subprocess.run(
            [sys.executable, "-c", FRESH_PROCESS, str(path), seed],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]


def test_seed_everything_validates():
    with pytest.raises(TypeError, match="seed must be an int, got float 1.5"):
        seed_everything(1.5)
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*32\).*got -1"):
        seed_everything(-1)
    assert seed_everything(2**32 - 1) == 2**32 - 1
