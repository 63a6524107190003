"""perceiver_lite.weights.checkpoint: safetensors round trips, atomic saves, and the files `load` refuses."""

import ast
import dataclasses
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
import torch
from conftest import SMALL_MODALITIES
from safetensors.torch import save_file
from torch import nn

from perceiver_lite.io import (
    DecoderConfig,
    PerceiverIO,
    PerceiverIOClassifier,
    PerceiverIOConfig,
    PerceiverIOMaskedLM,
)
from perceiver_lite.perceiver import Perceiver, PerceiverConfig, PerceiverEncoder
from perceiver_lite.relatives.ar import CausalTransformer, PerceiverAR, PerceiverARConfig
from perceiver_lite.relatives.hip import HiP, HiPConfig
from perceiver_lite.relatives.pretrained import (
    AutoencoderConfig,
    FlowConfig,
    ImageStemConfig,
    PerceiverIOAutoencoder,
    PerceiverIOFlow,
    StemClassifier,
    StemClassifierConfig,
)
from perceiver_lite.relatives.sets import (
    DeepSets,
    DeepSetsConfig,
    PerceiverResampler,
    ResamplerConfig,
    SetTransformer,
    SetTransformerConfig,
)
from perceiver_lite.tasks.multimodal import MultimodalConfig, MultimodalPerceiver
from perceiver_lite.tasks.points import PointNet, PointNetConfig
from perceiver_lite.tasks.training import (
    CNNClassifier,
    CNNClassifierConfig,
    MLPClassifier,
    MLPClassifierConfig,
)
from perceiver_lite.weights import checkpoint
from perceiver_lite.weights.checkpoint import REGISTRY, config_from_json, config_to_json, load, register, save

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(num_latents=8, latent_dim=16, num_self_heads=2, num_bands=4)
CONFIGS = {
    "sequence": PerceiverConfig(**SMALL),
    "image-tuples": PerceiverConfig(input_channels=3, input_shape=(6, 5), max_resolution=(12, 10), **SMALL),
    "points": PerceiverConfig(adapter="points", input_channels=4, **SMALL),
    "unshared-tanh": PerceiverConfig(
        share_weights=False,
        num_blocks=3,
        num_cross_attends=3,
        gelu="tanh",
        qk_channels=8,
        v_channels=16,
        **SMALL,
    ),
}
INPUTS = {
    "sequence": (2, 40, 1),
    "image-tuples": (2, 6, 5, 3),
    "points": (2, 30, 4),
    "unshared-tanh": (2, 40, 1),
}


def state_equal(first, second):
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def trained(name, steps=3):
    "A model of CONFIGS[name] whose weights differ from any fresh initialisation."
    torch.manual_seed(1)
    model = Perceiver(CONFIGS[name])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        loss = model(torch.rand(*INPUTS[name]) * 2 - 1).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


# ---------------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", CONFIGS)
def test_round_trip_weights_outputs_and_config(tmp_path, name):
    config = CONFIGS[name]
    model = trained(name).eval()
    path = save(model, tmp_path / "model.safetensors")
    reloaded = load(path)
    assert type(reloaded) is Perceiver and not reloaded.training
    assert reloaded.config == config
    assert type(reloaded.config.input_shape) is tuple and type(reloaded.config.max_resolution) is tuple
    assert state_equal(model, reloaded)
    raw = torch.rand(*INPUTS[name]) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model(raw), reloaded(raw))


def io_config(**fields):
    "A small Perceiver IO config on (B, 40, 1) sequences with a decoder of query width 8."
    decoder = dict(query_dim=8, latent_dim=16, output_channels=3) | fields.pop("decoder", {})
    return PerceiverIOConfig(encoder=PerceiverConfig(**SMALL), decoder=DecoderConfig(**decoder), **fields)


BYTES_LM = PerceiverIOConfig(
    encoder=PerceiverConfig(adapter="none", input_channels=16, **SMALL),
    decoder=DecoderConfig(query_dim=16, latent_dim=16, output_channels=None),
    adapter="bytes",
    num_queries=12,
    max_positions=12,
)
SEQUENCE = (2, 40, 1)
STEM = ImageStemConfig("conv", out_channels=8, num_bands=2, max_resolution=(4, 4))
MODALITIES = SMALL_MODALITIES
MODELS_UNDER_TEST = {  # every model class of the package: (class, small config, input)
    "Perceiver": (Perceiver, CONFIGS["sequence"], SEQUENCE),
    "PerceiverEncoder": (
        PerceiverEncoder,
        PerceiverConfig(adapter="none", input_channels=12, **SMALL),
        (2, 20, 12),
    ),
    "PerceiverIO": (PerceiverIO, io_config(num_queries=5), SEQUENCE),
    "PerceiverIOClassifier": (
        PerceiverIOClassifier,
        io_config(num_queries=1, decoder=dict(output_channels=10)),
        SEQUENCE,
    ),
    "PerceiverIOMaskedLM": (PerceiverIOMaskedLM, BYTES_LM, "bytes"),
    "MultimodalPerceiver": (MultimodalPerceiver, MultimodalConfig(), "clips"),
    "PointNet": (PointNet, PointNetConfig(width=16), (2, 30, 3)),
    "MLPClassifier": (MLPClassifier, MLPClassifierConfig(hidden=16), SEQUENCE),
    "CNNClassifier": (CNNClassifier, CNNClassifierConfig(channels=4), SEQUENCE),
    "PerceiverAR": (PerceiverAR, PerceiverARConfig(max_context=16, num_latents=4, latent_dim=16), "context"),
    "CausalTransformer": (
        CausalTransformer,
        PerceiverARConfig(max_context=16, num_latents=4, latent_dim=16),
        "context",
    ),
    "SetTransformer": (SetTransformer, SetTransformerConfig(dim=16), (2, 7, 4)),
    "DeepSets": (DeepSets, DeepSetsConfig(width=16), (2, 7, 4)),
    "PerceiverResampler": (PerceiverResampler, ResamplerConfig(dim=16), (2, 3, 5, 8)),
    "HiP": (
        HiP,
        HiPConfig(input_shape=(64,), num_groups=(4, 1), num_latents=(4, 8), latent_dim=16),
        (2, 64, 1),
    ),
    "StemClassifier": (
        StemClassifier,
        StemClassifierConfig(
            STEM,
            PerceiverConfig(adapter="none", input_channels=STEM.channels, **SMALL),
            DecoderConfig(query_dim=8, latent_dim=16, output_channels=5),
        ),
        (2, 3, 16, 16),
    ),
    "PerceiverIOFlow": (
        PerceiverIOFlow,
        FlowConfig(  # notebook 07's model
            PerceiverConfig(adapter="none", input_channels=16 + 18, **SMALL),
            DecoderConfig(query_dim=34, latent_dim=16, output_channels=2),
            patch_channels=9,
            channels=16,
            num_bands=4,
            max_resolution=(6, 6),
        ),
        (2, 2, 9, 6, 6),
    ),
    "PerceiverIOAutoencoder": (
        PerceiverIOAutoencoder,
        AutoencoderConfig(
            MODALITIES,
            PerceiverConfig(adapter="none", input_channels=MODALITIES.input_width, **SMALL),
            DecoderConfig(query_dim=MODALITIES.query_width, latent_dim=16, output_channels=12),
        ),
        "autoencoder",
    ),
}


def example_input(kind):
    generator = torch.Generator().manual_seed(0)
    if kind == "bytes":
        return torch.randint(0, 256, (2, 12), generator=generator)
    if kind == "context":
        return torch.randint(0, 256, (2, 16), generator=generator)
    if kind == "autoencoder":
        return {
            "image": torch.randn(1, 2, 3, 8, 8, generator=generator),
            "audio": torch.randn(1, 64, 1, generator=generator),
            "label": torch.zeros(1, 5),
        }
    if kind == "clips":
        return {
            "video": torch.randn(2, 8, 3, 3, 16, generator=generator),
            "audio": torch.randn(2, 16, 16, generator=generator),
        }
    return torch.randn(*kind, generator=generator)


def test_every_model_class_is_registered():
    assert sorted(REGISTRY) == sorted(MODELS_UNDER_TEST)


@pytest.mark.parametrize("name", MODELS_UNDER_TEST)
def test_every_model_round_trips(tmp_path, name):
    model_cls, config, kind = MODELS_UNDER_TEST[name]
    torch.manual_seed(0)
    model = model_cls(config).eval()
    with torch.no_grad():  # weights no fresh initialisation has
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    reloaded = load(save(model, tmp_path / f"{name}.safetensors"))
    assert type(reloaded) is model_cls and reloaded.config == config and state_equal(model, reloaded)
    inputs = example_input(kind)
    with torch.no_grad():
        first, second = model(inputs), reloaded(inputs)
    first, second = (
        (first[0], second[0]) if isinstance(first, tuple) else (first, second)
    )  # the encoder's latents
    if isinstance(first, dict):  # the autoencoder's three outputs
        assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    else:
        assert torch.equal(first, second)


def test_registering_by_name_imports_no_model_family():
    """`import perceiver_lite` brings `save` and `load`; the registry names the package's classes with their
    modules, so importing it loads no model family beyond the core, and `load` imports the one a file
    names."""
    script = textwrap.dedent("""
        import sys
        import perceiver_lite
        families = ("relatives.ar", "relatives.hip", "relatives.pretrained", "relatives.sets")
        families += ("tasks.multimodal", "tasks.points", "tasks.training")
        print(sorted(f for f in families if f"perceiver_lite.{f}" in sys.modules))
        from perceiver_lite.weights.checkpoint import registered
        module = registered("HiP")[0].__module__
        print(module, *[f"perceiver_lite.relatives.{name}" in sys.modules for name in ("hip", "sets")])
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.split("\n")[:2] == ["[]", "perceiver_lite.relatives.hip True False"]


def test_encoder_round_trip(tmp_path):
    torch.manual_seed(0)
    encoder = PerceiverEncoder(PerceiverConfig(adapter="none", input_channels=12, **SMALL))
    reloaded = load(save(encoder, tmp_path / "encoder.safetensors"))
    assert type(reloaded) is PerceiverEncoder and state_equal(encoder, reloaded)


def test_save_accepts_str_path_and_overwrites(tmp_path):
    path = str(tmp_path / "model.safetensors")
    torch.manual_seed(0)
    first, second = Perceiver(CONFIGS["sequence"]), Perceiver(CONFIGS["sequence"])
    save(first, path)
    save(second, path)
    assert state_equal(load(path), second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_equal_models_give_byte_identical_files(tmp_path):
    torch.manual_seed(0)
    model = Perceiver(CONFIGS["image-tuples"])
    first, second = save(model, tmp_path / "a.safetensors"), save(model, tmp_path / "b.safetensors")
    assert first.read_bytes() == second.read_bytes()


def test_metadata_is_one_json_entry(tmp_path):
    from safetensors import safe_open

    path = save(Perceiver(CONFIGS["sequence"]), tmp_path / "model.safetensors")
    with safe_open(path, framework="pt") as file:
        metadata = file.metadata()
    entry = json.loads(metadata["perceiver_lite"])
    assert (
        list(metadata) == ["perceiver_lite"]
        and entry["model"] == "Perceiver"
        and set(entry) == {"model", "config"}
    )
    assert entry["config"]["input_shape"] == [40]


def test_load_leaves_random_state_alone(tmp_path):
    path = save(Perceiver(CONFIGS["sequence"]), tmp_path / "model.safetensors")
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    load(path)
    assert torch.equal(torch.rand(3), expected)


def test_load_onto_device_argument(tmp_path):
    path = save(Perceiver(CONFIGS["sequence"]), tmp_path / "model.safetensors")
    model = load(path, device=torch.device("cpu"))
    assert all(p.device.type == "cpu" for p in model.parameters())


# -------------------------------------------------------------------- config JSON and the registry
@dataclass
class InnerConfig:
    sizes: tuple = (1, 2)


@dataclass
class ToyConfig:
    "Field types a later config may use: tuples by annotation, by default only, optional, nested."

    shape: tuple[int, ...] = (3, 4)
    grid: tuple = ((1, 2), (3, 4))
    maybe: Optional[tuple] = None
    untyped_default: "object" = (5, 6)
    names: list = field(default_factory=lambda: ["a", "b"])
    inner: InnerConfig = field(default_factory=InnerConfig)
    vocab: int = 7
    dim: int = 4


class TiedToy(nn.Module):
    "An embedding and an output layer that share one weight, as a masked language model's do."

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.dim)
        self.out = nn.Linear(config.dim, config.vocab, bias=False)
        self.out.weight = self.embed.weight

    def forward(self, tokens):
        return self.out(self.embed(tokens))


@pytest.fixture
def toy_registered():
    register(TiedToy, ToyConfig)
    yield
    REGISTRY.pop("TiedToy", None)


def test_config_json_round_trip_restores_tuples_lists_and_nested():
    config = ToyConfig(
        shape=(9,), grid=((7, 8),), maybe=(1, 2), untyped_default=(0, 1), inner=InnerConfig((4,))
    )
    back = config_from_json(ToyConfig, config_to_json(config))
    assert back == config
    assert type(back.shape) is tuple and type(back.grid[0]) is tuple and type(back.maybe) is tuple
    assert (
        type(back.untyped_default) is tuple and type(back.names) is list and type(back.inner) is InnerConfig
    )


def test_config_json_fills_new_fields_and_refuses_unknown_ones():
    assert config_from_json(PerceiverConfig, json.dumps({"num_latents": 4})) == PerceiverConfig(num_latents=4)
    with pytest.raises(ValueError, match=r"PerceiverConfig has no field \['latents'\]"):
        config_from_json(PerceiverConfig, json.dumps({"latents": 4}))


def test_tied_weights_stored_once_and_still_tied(tmp_path, toy_registered):
    torch.manual_seed(0)
    model = TiedToy(ToyConfig())
    path = save(model, tmp_path / "tied.safetensors")
    from safetensors import safe_open

    with safe_open(path, framework="pt") as file:
        assert sorted(file.keys()) == ["embed.weight"]  # safetensors' save_model stores a shared tensor once
        assert file.metadata()["out.weight"] == "embed.weight"
    reloaded = load(path)
    assert reloaded.out.weight is reloaded.embed.weight and state_equal(model, reloaded)
    assert reloaded.config == ToyConfig()


def test_register_refuses_non_module_and_non_dataclass():
    with pytest.raises(TypeError, match="model_cls must be an nn.Module subclass, got <class 'dict'>"):
        register(dict, PerceiverConfig)
    with pytest.raises(TypeError, match="config_cls must be a dataclass class, got <class 'dict'>"):
        register(Perceiver, dict)


def test_save_refuses_unregistered_model(tmp_path):
    class Unlisted(nn.Module):
        config = PerceiverConfig()

    with pytest.raises(
        ValueError, match=r"Unlisted is not registered for checkpoints \(registered: \[.*'Perceiver'"
    ):
        save(Unlisted(), tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_save_refuses_wrong_config_type(tmp_path):
    model = Perceiver(CONFIGS["sequence"])
    model.config = dataclasses.asdict(model.config)
    with pytest.raises(ValueError, match="Perceiver.config must be a PerceiverConfig, got dict"):
        save(model, tmp_path / "x.safetensors")


def test_save_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory .*nowhere does not exist"):
        save(Perceiver(CONFIGS["sequence"]), tmp_path / "nowhere" / "x.safetensors")


# -------------------------------------------------------------------------------------------- atomicity
def half_then_fail(path, model, metadata):
    Path(path).write_bytes(b"half a checkpoint")
    raise OSError("No space left on device (simulated)")


def test_crash_during_first_save_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "_write_file", half_then_fail)
    target = tmp_path / "model.safetensors"
    with pytest.raises(OSError, match="simulated"):
        save(Perceiver(CONFIGS["sequence"]), target)
    assert list(tmp_path.iterdir()) == []


def test_crash_during_overwrite_keeps_old_checkpoint(tmp_path, monkeypatch):
    torch.manual_seed(0)
    old, new = Perceiver(CONFIGS["sequence"]), Perceiver(CONFIGS["sequence"])
    target = save(old, tmp_path / "model.safetensors")
    before = target.read_bytes()
    monkeypatch.setattr(checkpoint, "_write_file", half_then_fail)
    with pytest.raises(OSError, match="simulated"):
        save(new, target)
    assert target.read_bytes() == before and state_equal(load(target), old)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_interrupt_before_rename_keeps_old_checkpoint(tmp_path, monkeypatch):
    torch.manual_seed(0)
    target = save(Perceiver(CONFIGS["sequence"]), tmp_path / "model.safetensors")
    before = target.read_bytes()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(Perceiver(CONFIGS["sequence"]), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_save_fsyncs_file_before_rename(tmp_path, monkeypatch):
    events = []
    monkeypatch.setattr(checkpoint.os, "fsync", lambda fd: events.append("fsync"))
    real_replace = os.replace
    monkeypatch.setattr(checkpoint.os, "replace", lambda *a: (events.append("replace"), real_replace(*a)))
    save(Perceiver(CONFIGS["sequence"]), tmp_path / "model.safetensors")
    assert events[:2] == ["fsync", "replace"] and events[-1] == "fsync"  # file, rename, then the directory


KILLED_MID_WRITE = textwrap.dedent("""
    import os, sys, torch
    from perceiver_lite.weights import checkpoint
    from perceiver_lite.perceiver import Perceiver, PerceiverConfig

    def die_halfway(path, model, metadata):
        with open(path, "xb") as file:
            file.write(b"half a checkpoint")
            file.flush()
        os._exit(9)  # no cleanup runs, as after kill -9 or a power cut

    checkpoint._write_file = die_halfway
    torch.manual_seed(1)
    checkpoint.save(Perceiver(PerceiverConfig(num_latents=8, latent_dim=16, num_self_heads=2)), sys.argv[1])
""")


def test_process_killed_mid_write_leaves_old_checkpoint_loadable(tmp_path):
    config = PerceiverConfig(num_latents=8, latent_dim=16, num_self_heads=2)
    torch.manual_seed(0)
    old = Perceiver(config)
    target = save(old, tmp_path / "model.safetensors")
    result = subprocess.run(
        [sys.executable, "-c", KILLED_MID_WRITE, str(target)],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 9, result.stderr.decode()[-2000:]
    assert state_equal(load(target), old)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.safetensors"]
    assert (
        len(leftovers) == 1
        and leftovers[0].startswith(".model.safetensors.")
        and leftovers[0].endswith(".partial")
    )


# ---------------------------------------------------------------------------------------------- refusals
@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = Perceiver(CONFIGS["sequence"])
    return model, save(model, tmp_path / "model.safetensors")


def test_refuses_torch_save_zip(tmp_path, saved):
    model, _ = saved
    torch.save(model.state_dict(), tmp_path / "model.pt")
    with pytest.raises(
        ValueError, match=r"model\.pt is a zip archive \(torch\.save's format.*can run arbitrary code"
    ):
        load(tmp_path / "model.pt")


def test_refuses_legacy_torch_save(tmp_path, saved):
    model, _ = saved
    torch.save(model.state_dict(), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match=r"legacy\.pt is a pickle .*refused"):
        load(tmp_path / "legacy.pt")


class Loud:
    def __reduce__(self):
        return print, ("unpickled!",)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_refuses_pickle_without_running_it(tmp_path, capsys, protocol):
    path = tmp_path / "loud.safetensors"  # the name does not matter, the bytes do
    path.write_bytes(pickle.dumps(Loud(), protocol=protocol))
    with pytest.raises(ValueError, match=r"loud\.safetensors is a pickle .*arbitrary code"):
        load(path)
    assert "unpickled!" not in capsys.readouterr().out


def test_safetensors_header_of_640_bytes_is_not_mistaken_for_pickle(tmp_path):
    "A header length ending in byte 0x80 starts the file with \\x80, as a pickle does."
    model = Perceiver(CONFIGS["sequence"])
    path = save(model, tmp_path / "model.safetensors")
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    # Re-pad the JSON header (spaces are allowed) so its length is 0x80 modulo 256.
    padded = length + (0x80 - length) % 256
    path.write_bytes(
        padded.to_bytes(8, "little") + raw[8 : 8 + length] + b" " * (padded - length) + raw[8 + length :]
    )
    assert path.read_bytes()[:1] == b"\x80"
    assert state_equal(load(path), model)


@pytest.mark.parametrize(
    "cut", [0, 5, 8, 100, -1], ids=["empty", "5-bytes", "8-bytes", "in-header", "last-byte"]
)
def test_truncated_file_is_named_corrupt(saved, cut):
    _, path = saved
    raw = path.read_bytes()
    path.write_bytes(raw[:cut])
    with pytest.raises(ValueError, match=r"model\.safetensors is corrupt or truncated"):
        load(path)


def test_garbage_header_is_named_corrupt(saved):
    _, path = saved
    raw = bytearray(path.read_bytes())
    raw[8:20] = b"not json at!"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"model\.safetensors is corrupt or truncated.*JSON"):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*absent\.safetensors"):
        load(tmp_path / "absent.safetensors")


def test_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load(tmp_path)


def test_file_without_metadata(tmp_path):
    save_file({"weight": torch.zeros(2)}, tmp_path / "foreign.safetensors")
    with pytest.raises(
        ValueError, match=r"foreign\.safetensors has no 'perceiver_lite' entry in its metadata \(keys: \[\]"
    ):
        load(tmp_path / "foreign.safetensors")


def write_with_entry(path, state, entry):
    save_file(
        state, path, metadata={"perceiver_lite": entry if isinstance(entry, str) else json.dumps(entry)}
    )
    return path


def entry_of(model):
    return {"model": type(model).__name__, "config": dataclasses.asdict(model.config)}


def test_unknown_model_name(tmp_path, saved):
    model, _ = saved
    path = write_with_entry(
        tmp_path / "m.safetensors", model.state_dict(), {**entry_of(model), "model": "Transformer"}
    )
    expected = (
        r"holds a 'Transformer', which is not a registered model class \(registered: \[.*'Perceiver'.*\]\); "
        r"if it is your own class, call register\(Transformer, its config class\) before load"
    )
    with pytest.raises(ValueError, match=expected):
        load(path)


@pytest.mark.parametrize(
    "entry",
    ["{not json", json.dumps({"config": {}}), json.dumps([1, 2])],
    ids=["not-json", "no-model", "not-a-dict"],
)
def test_unreadable_entry(tmp_path, saved, entry):
    model, _ = saved
    path = write_with_entry(tmp_path / "m.safetensors", model.state_dict(), entry)
    with pytest.raises(
        ValueError, match=r"m\.safetensors has an unreadable 'perceiver_lite' entry, expected model"
    ):
        load(path)


def test_invalid_config_values(tmp_path, saved):
    model, _ = saved
    entry = entry_of(model)
    entry["config"]["num_latents"] = 0
    path = write_with_entry(tmp_path / "m.safetensors", model.state_dict(), entry)
    expected = r"m\.safetensors holds an invalid PerceiverConfig: num_latents must be ≥ 1, got 0"
    with pytest.raises(ValueError, match=expected):
        load(path)


def test_unknown_config_field(tmp_path, saved):
    model, _ = saved
    entry = entry_of(model)
    entry["config"]["num_experts"] = 4
    path = write_with_entry(tmp_path / "m.safetensors", model.state_dict(), entry)
    with pytest.raises(
        ValueError, match=r"invalid PerceiverConfig: PerceiverConfig has no field \['num_experts'\]"
    ):
        load(path)


def test_config_disagreeing_with_tensors_lists_every_problem(tmp_path, saved):
    model, _ = saved
    state = dict(model.state_dict())
    state["head.weight"] = torch.zeros(3, 16)
    state["extra.bias"] = state.pop("head.bias")
    path = write_with_entry(tmp_path / "m.safetensors", state, entry_of(model))
    with pytest.raises(ValueError) as raised:
        load(path)
    message = str(raised.value)
    assert "m.safetensors does not match its Perceiver config" in message
    assert "missing [head.bias]" in message and "unexpected [extra.bias]" in message
    assert "mis-shaped [head.weight expected (10, 16), got (3, 16)]" in message


def test_config_of_another_size_lists_shapes(tmp_path, saved):
    model, _ = saved
    entry = entry_of(model)
    entry["config"]["num_latents"] = 4
    path = write_with_entry(tmp_path / "m.safetensors", model.state_dict(), entry)
    with pytest.raises(
        ValueError, match=r"mis-shaped \[encoder\.latents expected \(4, 16\), got \(8, 16\)\]"
    ):
        load(path)


def test_long_lists_are_shortened(tmp_path, saved):
    model, _ = saved
    path = write_with_entry(tmp_path / "m.safetensors", {"only": torch.zeros(1)}, entry_of(model))
    with pytest.raises(ValueError, match=r"missing \[[^\]]*… and \d+ more\]; unexpected \[only\]"):
        load(path)


def test_torch_save_into_buffer_is_zip():
    "The magic bytes `load` relies on are what torch.save writes."
    buffer = io.BytesIO()
    torch.save({"a": torch.zeros(1)}, buffer)
    assert buffer.getvalue()[:4] == b"PK\x03\x04"


UNPICKLING = {
    ("torch", "load"),
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("dill", "load"),
    ("joblib", "load"),
    ("np", "load"),
    ("numpy", "load"),
}


def _tensors_only(call):
    """`torch.load(..., weights_only=True)`: the restricted unpickler, which refuses anything but tensors and
    containers."""
    return (call.func.value.id, call.func.attr) == ("torch", "load") and any(
        keyword.arg == "weights_only"
        and isinstance(keyword.value, ast.Constant)
        and keyword.value.value is True
        for keyword in call.keywords
    )


@pytest.mark.parametrize("path", sorted((ROOT / "perceiver_lite").glob("*.py")), ids=lambda p: p.name)
def test_package_never_unpickles(path):
    """No module calls an unpickler (np.load included: allow_pickle can be switched on), bar torch's tensors-
    only one."""
    tree = ast.parse(path.read_text())
    calls = [
        f"line {node.lineno}: {node.func.value.id}.{node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and (node.func.value.id, node.func.attr) in UNPICKLING
        and not _tensors_only(node)
    ]
    assert calls == []
