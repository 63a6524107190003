"""Offline by construction: the public entry points run with the network switched off, and no module or
notebook calls anything that downloads.

Sockets are disabled (connect, create_connection, name lookups) and HF_HUB_OFFLINE=1 is set, so a
download slipped in anywhere fails here rather than in a reader's run without a network."""

import ast
import importlib
import json
import os
import pkgutil
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import perceiver_lite

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


class NetworkAccess(RuntimeError):
    "Raised by the disabled sockets."


def refuse(*args, **kwargs):
    raise NetworkAccess(f"network access attempted: {args[1:] or args}")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_the_guard_works():
    with pytest.raises(NetworkAccess):
        socket.create_connection(("example.org", 80), timeout=1)
    with pytest.raises(NetworkAccess):
        socket.socket().connect(("127.0.0.1", 9))


@pytest.mark.parametrize(
    "config, shape",
    [
        (dict(), (2, 40, 1)),
        (dict(input_channels=3, input_shape=(8, 8)), (2, 8, 8, 3)),
        (dict(adapter="points", input_channels=3), (2, 50, 3)),
    ],
    ids=["sequence", "image", "points"],
)
def test_model_build_and_forward(config, shape):
    from perceiver_lite.perceiver import Perceiver, PerceiverConfig

    model = Perceiver(PerceiverConfig(**config))
    logits = model(torch.rand(*shape) * 2 - 1)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    from perceiver_lite.course.viz import cross_attention_maps

    assert cross_attention_maps(model, torch.rand(*shape) * 2 - 1).shape[1] == model.config.num_cross_attends


def test_mnist1d_is_generated_not_downloaded():
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = 200
    data = make_dataset(args)
    assert data["x"].shape == (160, 40) and data["x_test"].shape == (40, 40)


def test_bundled_datasets():
    "The other data sources the notebooks may use ship with their libraries."
    from skimage import data
    from sklearn.datasets import load_digits

    assert load_digits().images.shape == (1797, 8, 8)
    assert data.camera().shape == (512, 512) and data.astronaut().shape == (512, 512, 3)


def test_transformers_converter_on_a_local_model():
    transformers = pytest.importorskip("transformers")
    from perceiver_lite.perceiver import PerceiverEncoder
    from perceiver_lite.weights.convert import config_from_transformers, encoder_state_from_transformers

    settings = dict(
        num_latents=8,
        d_latents=32,
        d_model=24,
        num_blocks=2,
        num_self_attends_per_block=2,
        num_self_attention_heads=4,
        num_cross_attention_heads=1,
    )
    torch.manual_seed(0)
    reference = transformers.PerceiverModel(transformers.PerceiverConfig(**settings)).eval()
    ours = PerceiverEncoder(
        config_from_transformers(reference.config, settings["d_model"], fused=False)
    ).eval()
    ours.load_state_dict(encoder_state_from_transformers(reference.state_dict()), strict=True)
    inputs = torch.randn(2, 30, settings["d_model"])
    with torch.no_grad():
        assert torch.equal(ours(inputs)[0], reference(inputs=inputs).last_hidden_state)


def test_checkpoint_save_and_load(tmp_path):
    from perceiver_lite.perceiver import Perceiver, PerceiverConfig
    from perceiver_lite.tasks.training import seed_everything
    from perceiver_lite.weights.checkpoint import load, save

    seed_everything(0)
    model = Perceiver(PerceiverConfig(num_latents=8, latent_dim=16, num_self_heads=2)).eval()
    reloaded = load(save(model, tmp_path / "model.safetensors"))
    raw = torch.randn(2, 40, 1)
    with torch.no_grad():
        assert torch.equal(model(raw), reloaded(raw))


def package_modules():
    "Every module of the package, subpackages' modules included."
    return sorted(
        info.name
        for info in pkgutil.walk_packages(perceiver_lite.__path__, prefix="perceiver_lite.")
        if not info.name.rsplit(".", 1)[-1].startswith("_")
    )


@pytest.mark.parametrize("name", package_modules())
def test_every_module_imports_offline(name):
    importlib.import_module(name)


FRESH_PROCESS = textwrap.dedent("""
    import socket

    def refuse(*args, **kwargs):
        raise RuntimeError("network access attempted")

    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.create_connection = socket.getaddrinfo = refuse

    import importlib, pkgutil, sys
    import perceiver_lite
    for info in pkgutil.iter_modules(perceiver_lite.__path__):
        importlib.import_module("perceiver_lite." + info.name)
    leaked = sorted({"transformers", "huggingface_hub", "requests", "httpx"} & set(sys.modules))
    assert not leaked, f"importing perceiver_lite imported {leaked}"

    import tempfile, torch
    from perceiver_lite.weights.checkpoint import load, save
    from perceiver_lite.perceiver import Perceiver, PerceiverConfig
    model = Perceiver(PerceiverConfig(num_latents=8, latent_dim=16, num_self_heads=2))
    with tempfile.TemporaryDirectory() as folder:
        load(save(model, folder + "/m.safetensors"))(torch.randn(1, 40, 1))
    import transformers  # imported with the network off from the first line
    transformers.PerceiverModel(transformers.PerceiverConfig(num_latents=4, d_latents=16, d_model=8))
    print("offline ok")
""")


@pytest.mark.slow
def test_fresh_process_with_network_off_from_the_start():
    "Import-time downloads (a hub lookup when transformers loads, say) only show in a fresh process."
    env = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and "offline ok" in result.stdout, result.stderr[-3000:]


# ---------------------------------------------------------------------------------------------- static scan
DOWNLOADING_CALLS = {  # callables that fetch from the network (some also unpickle what they fetch)
    "from_pretrained",
    "hf_hub_download",
    "snapshot_download",
    "load_dataset",
    "urlopen",
    "urlretrieve",
    "load_state_dict_from_url",
    "download_url_to_file",
    "get_dataset",  # mnist1d: downloads a pickle, loads it
    "fetch_openml",
    "download_all",
}
SKIMAGE_REMOTE = {
    "brain",
    "cells3d",
    "eagle",
    "human_mitosis",
    "kidney",
    "lily",
    "nickel_solidification",
    "palisades_of_vogt",
    "protein_transport",
    "skin",
    "vortex",
}  # not bundled: fetched by pooch
NETWORK_IMPORTS = {
    "socket",
    "requests",
    "httpx",
    "aiohttp",
    "urllib.request",
    "http.client",
    "ftplib",
    "huggingface_hub",
    "datasets",
    "pooch",
}


def problems_in(tree):
    "Calls that download and imports of network libraries in a parsed module."
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            local_only = any(
                kw.arg == "local_files_only" and isinstance(kw.value, ast.Constant) and kw.value.value is True
                for kw in node.keywords
            )
            if (
                (name in DOWNLOADING_CALLS and not local_only)
                or name.startswith("fetch_")
                or (name in SKIMAGE_REMOTE and isinstance(func, ast.Attribute))
            ):
                found.append(f"line {node.lineno}: calls {name}()")
            found += [
                f"line {node.lineno}: download=True"
                for kw in node.keywords
                if kw.arg == "download" and isinstance(kw.value, ast.Constant) and kw.value.value is True
            ]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            )
            if isinstance(node, ast.ImportFrom) and [a.name for a in node.names] == [
                "try_to_load_from_cache"
            ]:
                continue  # a lookup in the local cache only
            found += [
                f"line {node.lineno}: imports {n}"
                for n in names
                if n in NETWORK_IMPORTS
                or n.split(".")[0] in {"requests", "httpx", "aiohttp", "huggingface_hub"}
            ]
    return found


def notebook_source(path):
    "The code cells of a notebook as one module, IPython magics and shell escapes dropped."
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    lines = [line for cell in cells for line in "".join(cell["source"]).splitlines()]
    return "\n".join("" if re.match(r"\s*[%!]", line) else line for line in lines)


@pytest.mark.parametrize("path", sorted((ROOT / "perceiver_lite").glob("*.py")), ids=lambda p: p.name)
def test_package_source_has_no_network_calls(path):
    assert problems_in(ast.parse(path.read_text())) == []


@pytest.mark.parametrize(
    "path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name
)
def test_notebooks_have_no_network_calls(path):
    assert problems_in(ast.parse(notebook_source(path))) == []


def test_scan_catches_downloads():
    source = (
        "import requests\nfrom mnist1d.data import get_dataset\nget_dataset(args)\nskimage.data.cells3d()\n"
        "m = AutoModel.from_pretrained('x')\nMNIST('.', download=True)\nfetch_openml('mnist_784')\n"
    )
    assert len(problems_in(ast.parse(source))) == 6
