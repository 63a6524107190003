"""Every `PerceiverFor…` class of the `transformers` port, converted into perceiver_lite, and loaded from a
checkpoint folder without `transformers`.

Small random reference models are built locally (nothing is downloaded) and their weights perturbed away
from the small initial scale so that outputs are of order one. Converted, they give the reference's outputs
bit for bit on the written-out attention path (`fused=False`); on the fused path the sums run in another
order, so they agree within 1e-5 of the outputs' scale. `load_pretrained` is tested on folders written by
`save_pretrained`, read in a subprocess in which importing `transformers` fails."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

transformers = pytest.importorskip("transformers")
from conftest import SMALL_PORT  # noqa: E402
from transformers import PerceiverConfig as ReferenceConfig  # noqa: E402

from perceiver_lite.io import PerceiverIOClassifier, PerceiverIOMaskedLM  # noqa: E402
from perceiver_lite.relatives.pretrained import PerceiverIOAutoencoder, PerceiverIOFlow, StemClassifier  # noqa: E402
from perceiver_lite.weights.convert import ARCHITECTURES, from_transformers, load_pretrained  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = SMALL_PORT
MULTIMODAL = dict(
    num_frames=2,
    audio_samples_per_frame=16,
    samples_per_patch=8,
    image_size=8,
    output_shape=(1, 2, 8, 8),
    output_num_channels=16,
    _label_trainable_num_channels=12,
)
POINTS = {"image": torch.tensor([0, 5, 17, 100, 127]), "audio": torch.tensor([1, 3])}


def perturbed(model, seed=1):
    "The reference initialises weights at scale 0.02; larger ones give outputs of order one, a sterner test."
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
        for (
            name,
            buffer,
        ) in model.named_buffers():  # BatchNorm's statistics, so that the stem's norm does something
            if name.endswith("running_mean"):
                buffer.normal_()
            elif name.endswith("running_var"):
                buffer.uniform_(0.5, 2.0)
    return model.eval()


def clip(batch=2):
    generator = torch.Generator().manual_seed(2)
    return {
        "image": torch.randn(batch, 2, 3, 8, 8, generator=generator),
        "audio": torch.randn(batch, 32, 1, generator=generator),
        "label": torch.zeros(batch, 5),
    }


CASES = {  # the port's class → (its config beyond SMALL, inputs, the perceiver_lite class it converts to)
    "PerceiverForImageClassificationFourier": (
        dict(image_size=16),
        lambda: torch.randn(2, 3, 16, 12),
        PerceiverIOClassifier,
    ),
    "PerceiverForImageClassificationLearned": (
        dict(image_size=8),
        lambda: torch.randn(2, 3, 8, 8),
        StemClassifier,
    ),
    "PerceiverForImageClassificationConvProcessing": (
        dict(image_size=16),
        lambda: torch.randn(2, 3, 16, 16),
        StemClassifier,
    ),
    "PerceiverForMaskedLM": ({}, lambda: torch.randint(0, 262, (2, 25)), PerceiverIOMaskedLM),
    "PerceiverForSequenceClassification": ({}, lambda: torch.randint(0, 262, (2, 25)), PerceiverIOClassifier),
    "PerceiverForOpticalFlow": (
        dict(train_size=(6, 8)),
        lambda: torch.randn(2, 2, 27, 6, 8),
        PerceiverIOFlow,
    ),
    "PerceiverForMultimodalAutoencoding": (MULTIMODAL, clip, PerceiverIOAutoencoder),
}


def reference(name):
    torch.manual_seed(0)
    return perturbed(getattr(transformers, name)(ReferenceConfig(**SMALL, **CASES[name][0])))


def flat(outputs):
    "One tensor of every output: the autoencoder's dict of three in sorted order, or the tensor itself."
    return (
        torch.cat([outputs[k].flatten() for k in sorted(outputs)])
        if isinstance(outputs, dict)
        else outputs.flatten()
    )


def reference_outputs(model, inputs):
    extra = {"subsampled_output_points": {**POINTS, "label": None}} if isinstance(inputs, dict) else {}
    with torch.no_grad():
        return flat(model(inputs, **extra).logits)


def our_outputs(model, inputs):
    with torch.no_grad():
        return flat(model(inputs, POINTS) if isinstance(inputs, dict) else model(inputs))


def test_every_class_of_the_port_is_covered():
    assert (
        set(ARCHITECTURES)
        == set(CASES)
        == {
            n
            for n in transformers.models.perceiver.modeling_perceiver.__all__
            if n.startswith("PerceiverFor")
        }
    )


@pytest.mark.parametrize("name", CASES)
def test_outputs_bit_identical_on_explicit_path(name):
    model, inputs = reference(name), CASES[name][1]()
    ours = from_transformers(model, fused=False)
    assert type(ours) is CASES[name][2]
    got, expected = our_outputs(ours, inputs), reference_outputs(model, inputs)
    assert got.shape == expected.shape
    assert torch.equal(got, expected), f"max difference {(got - expected).abs().max().item():.3e}"


@pytest.mark.parametrize("name", CASES)
def test_outputs_close_on_fused_path(name):
    """SDPA sums in another order than the written-out attention, so the fused path agrees to float32
    rounding: within 1e-5 of the outputs' scale (the perturbed autoencoder, ~400 channels wide, gives
    outputs near 80)."""
    model, inputs = reference(name), CASES[name][1]()
    got, expected = our_outputs(from_transformers(model), inputs), reference_outputs(model, inputs)
    scale = max(expected.abs().max().item(), 1.0)
    assert (got - expected).abs().max().item() <= 1e-5 * scale


@pytest.mark.parametrize("name", CASES)
def test_every_reference_weight_is_used(name):
    model = reference(name)
    ours = from_transformers(model)
    # Ours leaves out the autoencoder's two mask tokens that are never used (audio and video are masked with
    # probability 0); the masked LM's read-out reuses the byte embedding in both.
    unused = sum(p.numel() for n, p in model.named_parameters() if n.endswith(("mask.audio", "mask.image")))
    assert sum(p.numel() for p in model.parameters()) - unused == sum(p.numel() for p in ours.parameters())


@pytest.mark.parametrize("act", ["gelu_pytorch_tanh", "gelu_new"])
def test_tanh_gelu_references(act):
    """Both tanh GELUs convert to PyTorch's tanh GELU. `gelu_pytorch_tanh` is that very kernel: bit for bit.
    `gelu_new` is computed by the port op by op in Python (0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))),
    which rounds differently from the fused kernel, so there the outputs agree within 1e-5 of their scale
    instead."""
    name = "PerceiverForSequenceClassification"
    torch.manual_seed(0)
    model = perturbed(getattr(transformers, name)(ReferenceConfig(**SMALL, hidden_act=act)))
    ids = CASES[name][1]()
    got, expected = our_outputs(from_transformers(model, fused=False), ids), reference_outputs(model, ids)
    if act == "gelu_pytorch_tanh":
        assert torch.equal(got, expected)
    else:
        assert (got - expected).abs().max().item() <= 1e-5 * max(expected.abs().max().item(), 1.0)


def test_flow_queries_are_the_input_array():
    model, patches = reference("PerceiverForOpticalFlow"), CASES["PerceiverForOpticalFlow"][1]()
    ours = from_transformers(model, fused=False)
    with torch.no_grad():
        expected, _, _ = model.perceiver.input_preprocessor(patches)
        assert torch.equal(ours.adapter(patches), expected)


def test_autoencoder_decodes_everything_when_no_points_are_given():
    ours = from_transformers(reference("PerceiverForMultimodalAutoencoding"))
    with torch.no_grad():
        decoded = ours(clip(1))
    assert {k: tuple(v.shape) for k, v in decoded.items()} == {
        "audio": (1, 32),
        "image": (1, 128, 3),
        "label": (1, 5),
    }


BLOCK_TRANSFORMERS = textwrap.dedent("""
    import sys

    class NoTransformers:
        "Make `import transformers` fail, as on a machine where it is not installed."
        def find_spec(self, name, path=None, target=None):
            if name == "transformers" or name.startswith("transformers."):
                raise ImportError(f"{name} is blocked for this test")

    sys.meta_path.insert(0, NoTransformers())
    """)


def save_checkpoints(folder):
    "A save_pretrained folder per class, with the inputs and the reference's outputs beside it."
    for name in CASES:
        model, inputs = reference(name), CASES[name][1]()
        model.config.architectures = [name]
        model.save_pretrained(folder / name)
        tensors = (
            {f"input.{k}": v for k, v in inputs.items()} if isinstance(inputs, dict) else {"input": inputs}
        )
        save_file(
            {**tensors, "expected": reference_outputs(model, inputs)}, folder / name / "check.safetensors"
        )


def test_load_pretrained_without_transformers(tmp_path):
    save_checkpoints(tmp_path)
    script = BLOCK_TRANSFORMERS + textwrap.dedent(f"""
        import json, torch
        from pathlib import Path
        from safetensors.torch import load_file
        # the parent's threads: another split of a sum rounds differently
        torch.set_num_threads({torch.get_num_threads()})
        try:
            import transformers
            raise SystemExit("transformers was importable")
        except ImportError:
            pass
        from perceiver_lite.weights.convert import load_pretrained

        points = {{"image": torch.tensor({POINTS["image"].tolist()}),
                  "audio": torch.tensor({POINTS["audio"].tolist()})}}
        report = {{}}
        for folder in sorted(Path({str(tmp_path)!r}).iterdir()):
            check = load_file(folder / "check.safetensors")
            model = load_pretrained(folder, fused=False)
            inputs = {{k[6:]: v for k, v in check.items() if k.startswith("input.")}} or check["input"]
            with torch.no_grad():
                out = model(inputs, points) if isinstance(inputs, dict) else model(inputs)
            if isinstance(out, dict):
                out = torch.cat([out[k].flatten() for k in sorted(out)])
            out = out.flatten()
            report[folder.name] = [type(model).__name__, torch.equal(out, check["expected"])]
        assert not any(name.startswith("transformers") for name in sys.modules)
        print(json.dumps(report))
        """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {name: [CASES[name][2].__name__, True] for name in CASES}


def test_sharded_checkpoints_load(tmp_path):
    model = reference("PerceiverForOpticalFlow")
    model.config.architectures = ["PerceiverForOpticalFlow"]
    model.save_pretrained(tmp_path, max_shard_size="100KB")
    assert (tmp_path / "model.safetensors.index.json").is_file() and not (
        tmp_path / "model.safetensors"
    ).exists()
    patches = CASES["PerceiverForOpticalFlow"][1]()
    assert torch.equal(
        our_outputs(load_pretrained(tmp_path, fused=False), patches), reference_outputs(model, patches)
    )


def write(folder, config=None, weights=None):
    folder.mkdir(exist_ok=True)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    if weights is not None:
        save_file(weights, folder / "model.safetensors")
    return folder


class Payload:
    "Anything but a tensor: pickling it stores a reference to code."


def test_pickled_weights_load_as_tensors_only(tmp_path):
    """A pytorch_model.bin is read with torch.load(weights_only=True): tensors in plain containers load, a
    file naming a callable outside its allow-list is refused."""
    model = reference("PerceiverForSequenceClassification")
    model.config.architectures = ["PerceiverForSequenceClassification"]
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    ids = torch.randint(0, 262, (2, 9))
    with torch.no_grad():
        assert torch.equal(load_pretrained(tmp_path, fused=False)(ids), model(ids).logits)
    torch.save({**model.state_dict(), "payload": Payload()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(
        ValueError,
        match=f"{tmp_path}: pytorch_model.bin names a callable outside torch.load's weights_only allow-list",
    ):
        load_pretrained(tmp_path)


def test_clear_errors_name_the_folder_and_what_is_wrong(tmp_path):
    model = reference("PerceiverForSequenceClassification")
    config = {**model.config.to_diff_dict(), "architectures": ["PerceiverForSequenceClassification"]}
    weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    empty = write(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=f"{empty}: no config.json"):
        load_pretrained(empty)
    bare = write(tmp_path / "bare", config)
    with pytest.raises(FileNotFoundError, match=f"{bare}: no weights .*model.safetensors"):
        load_pretrained(bare)
    other = write(tmp_path / "other", {**config, "model_type": "bert"}, weights)
    with pytest.raises(
        ValueError, match=f"{other}: config.json's model_type must be 'perceiver', got 'bert'"
    ):
        load_pretrained(other)
    unknown = write(tmp_path / "unknown", {**config, "architectures": ["PerceiverForTimeTravel"]}, weights)
    with pytest.raises(
        ValueError, match=r"architectures \['PerceiverForTimeTravel'\] name none .*PerceiverForOpticalFlow"
    ):
        load_pretrained(unknown)
    wider = write(tmp_path / "wider", {**config, "num_latents": 9}, weights)
    with pytest.raises(
        ValueError,
        match=rf"{wider} \(PerceiverForSequenceClassification\): .*shapes differ: "
        r"encoder.latents \(8, 32\) where PerceiverIOClassifier has \(9, 32\)",
    ):
        load_pretrained(wider)
    extra = write(tmp_path / "extra", config, {**weights, "perceiver.surprise": torch.zeros(3)})
    with pytest.raises(ValueError, match="not used: perceiver.surprise"):
        load_pretrained(extra)
    del weights["perceiver.decoder.decoder.final_layer.bias"]
    short = write(tmp_path / "short", config, weights)
    with pytest.raises(ValueError, match="missing: decoder.postprocessor.bias"):
        load_pretrained(short)


def test_the_package_never_imports_transformers():
    for path in (ROOT / "perceiver_lite").glob("*.py"):
        text = path.read_text()
        assert "import transformers" not in text and "from transformers" not in text, path.name
