"""A catalogue of bad inputs across the public API: each must raise the documented exception type
(ValueError or TypeError; FileNotFoundError for a missing file) with a message naming what was expected
and what was given — never a bare AssertionError or a RuntimeError from inside torch."""
import json
import pickle
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from perceiver_lite.attention import MultiHeadAttention
from perceiver_lite.blocks import MLP, CrossAttentionBlock, SelfAttentionBlock
from perceiver_lite.checkpoint import load, register, save, seed_everything
from perceiver_lite.perceiver import (Perceiver, PerceiverConfig, PerceiverEncoder, config_from_transformers,
                                      encoder_state_from_transformers)
from perceiver_lite.position import (FourierPositionEncoding, LearnedPositionEncoding, fourier_features,
                                     frequency_bands, linear_positions)

torch.manual_seed(0)
SMALL = dict(num_latents=8, latent_dim=16, num_self_heads=2, num_bands=4)  # input_dim 1 + 9 = 10
MHA = MultiHeadAttention(8, 12, num_heads=2)
QUERIES, INPUTS = torch.randn(2, 4, 8), torch.randn(2, 6, 12)
MODEL = Perceiver(PerceiverConfig(**SMALL))
POINTS_MODEL = Perceiver(PerceiverConfig(adapter="points", input_channels=3, **SMALL))


def with_value(value, *where):
    "A (2, 40, 1) sequence with `value` at one place."
    inputs = torch.randn(2, 40, 1)
    inputs[where or (0, 3, 0)] = value
    return inputs


def checkpoint_file(tmp_path, edit=None):
    "A saved checkpoint, its bytes passed through `edit`."
    path = save(MODEL, tmp_path / "model.safetensors")
    if edit:
        path.write_bytes(edit(path.read_bytes()))
    return path


def disagreeing_checkpoint(tmp_path):
    "The tensors of one config under the metadata of another (num_latents 8 stored, 4 claimed)."
    state = {name: tensor.clone() for name, tensor in MODEL.state_dict().items()}
    config = dict(json.loads(json.dumps(vars(MODEL.config))), num_latents=4)
    entry = {"model": "Perceiver", "config": config, "aliases": {}}
    save_file(state, tmp_path / "disagrees.safetensors", metadata={"perceiver_lite": json.dumps(entry)})
    return tmp_path / "disagrees.safetensors"


class Unregistered(nn.Module):
    config = PerceiverConfig()


# (id, exception, message pattern, call with tmp_path, *marks)
CASES = [
    # ---- attention
    ("mha-queries-rank-2", ValueError, r"queries must have rank 3 \(B, M, C\), got shape \(4, 8\)",
     lambda tmp: MHA(torch.randn(4, 8), INPUTS)),
    ("mha-inputs-wrong-channels", ValueError, r"inputs must have 12 channels \(last dim\), got shape \(2, 6, 10\)",
     lambda tmp: MHA(QUERIES, torch.randn(2, 6, 10))),
    ("mha-integer-dtype", ValueError, r"queries must be a floating-point tensor, got dtype torch.int64",
     lambda tmp: MHA(torch.ones(2, 4, 8, dtype=torch.long), INPUTS)),
    ("mha-not-a-tensor", TypeError, r"queries must be a torch.Tensor, got list",
     lambda tmp: MHA([[0.0] * 8], INPUTS)),
    ("mha-batch-mismatch", ValueError, r"inputs batch \(3\) must match queries batch \(2\)",
     lambda tmp: MHA(QUERIES, torch.randn(3, 6, 12))),
    ("mha-heads-not-dividing-width", ValueError, r"qk_channels \(8\) must be divisible by num_heads, got num_heads=3",
     lambda tmp: MultiHeadAttention(8, num_heads=3)),
    ("mha-zero-heads", ValueError, r"must be divisible by num_heads, got num_heads=0",
     lambda tmp: MultiHeadAttention(8, num_heads=0)),
    ("mha-float64-inputs", ValueError, r"queries must be float32.*got torch.float64",
     lambda tmp: MHA(QUERIES.double(), INPUTS.double())),
    ("mha-float-mask", ValueError, r"mask must be a boolean tensor.*got dtype torch.float32",
     lambda tmp: MHA(QUERIES, INPUTS, mask=torch.ones(2, 6))),
    ("mha-negative-width", ValueError, r"q_dim must be ≥ 1, got -8",
     lambda tmp: MultiHeadAttention(-8)),
    # ---- position
    ("positions-empty-grid", ValueError, r"index_dims must be one or more sizes ≥ 1, got \(0, 4\)",
     lambda tmp: linear_positions((0, 4))),
    ("bands-zero", ValueError, r"num_bands must be ≥ 1, got 0", lambda tmp: frequency_bands(0, (8,))),
    ("bands-negative", ValueError, r"num_bands must be ≥ 1, got -2", lambda tmp: FourierPositionEncoding(-2, (8,))),
    ("spacing-unknown", ValueError, r"spacing must be one of \('linear', 'log'\), got 'cubic'",
     lambda tmp: frequency_bands(4, (8,), spacing="cubic")),
    ("resolution-negative", ValueError, r"max_resolution must be positive, got \(-8,\)",
     lambda tmp: frequency_bands(4, (-8,))),
    ("positions-rank-1", ValueError, r"positions must be \(M, d\), got shape \(5,\)",
     lambda tmp: fourier_features(torch.randn(5), 4, (8,))),
    ("resolution-axes-mismatch", ValueError, r"max_resolution must have one entry per axis \(2\), got 1: \(8,\)",
     lambda tmp: FourierPositionEncoding(4, (8,))((8, 8))),
    ("learned-zero-positions", ValueError, r"num_positions and channels must be ≥ 1, got 0 and 4",
     lambda tmp: LearnedPositionEncoding(0, 4)),
    ("learned-too-many-positions", ValueError, r"num_positions must be between 1 and 4, got 10",
     lambda tmp: LearnedPositionEncoding(4, 4)(10)),
    # ---- blocks
    ("mlp-unknown-gelu", ValueError, r"gelu must be 'exact' or 'tanh', got 'relu'", lambda tmp: MLP(8, gelu="relu")),
    ("cross-block-query-channels", ValueError, r"queries must have 8 channels \(last dim\), got shape \(2, 4, 7\)",
     lambda tmp: CrossAttentionBlock(8, 12)(torch.randn(2, 4, 7), INPUTS)),
    ("self-block-rank-2", ValueError, r"latents must have rank 3 \(B, M, C\), got shape \(4, 8\)",
     lambda tmp: SelfAttentionBlock(8)(torch.randn(4, 8))),
    ("cross-block-empty-inputs", ValueError, r"M ≥ 1.*got shape \(2, 0, 12\)",
     lambda tmp: CrossAttentionBlock(8, 12)(QUERIES, torch.randn(2, 0, 12))),
    # ---- perceiver: configs with impossible values
    ("config-heads-not-dividing-width", ValueError,
     r"latent_dim \(30\) must be divisible by num_self_heads, got num_self_heads=4",
     lambda tmp: PerceiverConfig(latent_dim=30)),
    ("config-zero-latents", ValueError, r"num_latents must be ≥ 1, got 0", lambda tmp: PerceiverConfig(num_latents=0)),
    ("config-negative-bands", ValueError, r"num_bands must be ≥ 1, got -1", lambda tmp: PerceiverConfig(num_bands=-1)),
    ("config-cross-attends-exceed-blocks", ValueError, r"num_cross_attends \(3\) must be ≤ num_blocks \(2\)",
     lambda tmp: PerceiverConfig(num_cross_attends=3, num_blocks=2)),
    ("config-unknown-adapter", ValueError, r"adapter must be 'fourier', 'points' or 'none', got 'pixels'",
     lambda tmp: PerceiverConfig(adapter="pixels")),
    ("config-points-without-xyz", ValueError, r"input_channels must be ≥ 3, got 2",
     lambda tmp: PerceiverConfig(adapter="points", input_channels=2)),
    ("config-resolution-axes", ValueError,
     r"max_resolution must have one entry per axis of input_shape \(8, 8\), got \(8,\)",
     lambda tmp: PerceiverConfig(input_shape=(8, 8), max_resolution=(8,))),
    ("model-qk-channels-not-dividing", ValueError, r"qk_channels \(30\) must be divisible by num_heads, got num_heads=4",
     lambda tmp: Perceiver(PerceiverConfig(qk_channels=30))),
    ("model-unknown-gelu", ValueError, r"gelu must be 'exact' or 'tanh', got 'relu'",
     lambda tmp: Perceiver(PerceiverConfig(gelu="relu"))),
    ("config-unknown-gelu-at-config-time", ValueError, r"gelu must be 'exact' or 'tanh', got 'relu'",
     lambda tmp: PerceiverConfig(gelu="relu")),
    ("config-float-latents", TypeError, r"num_latents must be an int, got 2.5",
     lambda tmp: Perceiver(PerceiverConfig(num_latents=2.5))),
    ("config-string-latents", TypeError, r"num_latents must be an int, got '8'",
     lambda tmp: PerceiverConfig(num_latents="8")),
    ("config-negative-self-attends", ValueError, r"num_self_attends_per_block must be ≥ 0, got -1",
     lambda tmp: PerceiverConfig(num_self_attends_per_block=-1)),
    ("config-empty-grid", ValueError, r"input_shape.*≥ 1, got \(0,\)",
     lambda tmp: PerceiverConfig(input_shape=(0,))),
    ("config-negative-resolution", ValueError, r"max_resolution must be positive, got \(-5,\)",
     lambda tmp: PerceiverConfig(max_resolution=(-5,))),
    ("config-negative-init-scale", ValueError, r"latent_init_scale must be > 0, got -1.0",
     lambda tmp: Perceiver(PerceiverConfig(latent_init_scale=-1.0)),
     pytest.mark.filterwarnings("ignore:mean is more than 2 std")),
    ("model-config-is-dict", TypeError, r"config must be a PerceiverConfig, got dict",
     lambda tmp: Perceiver(dict(num_latents=8))),
    # ---- perceiver: tensors
    ("forward-missing-channel-axis", ValueError, r"inputs must be \(B, \?, 1\) .* got \(2, 40\)",
     lambda tmp: MODEL(torch.randn(2, 40))),
    ("forward-wrong-channels", ValueError, r"inputs must be \(B, \?, 1\) .*1 channels — got \(2, 40, 3\)",
     lambda tmp: MODEL(torch.randn(2, 40, 3))),
    ("forward-image-for-sequence-model", ValueError, r"1 grid axes and 1 channels — got \(2, 8, 8, 1\)",
     lambda tmp: MODEL(torch.randn(2, 8, 8, 1))),
    ("forward-nan", ValueError, r"inputs .*NaN or inf", lambda tmp: MODEL(with_value(float("nan")))),
    ("forward-inf", ValueError, r"inputs .*NaN or inf", lambda tmp: MODEL(with_value(float("inf")))),
    ("points-nan", ValueError, r"inputs .*NaN or inf",
     lambda tmp: POINTS_MODEL(torch.full((1, 5, 3), float("nan")))),
    ("points-wrong-channels", ValueError, r"points must be \(B, P, 3\) with xyz first, got \(1, 5, 2\)",
     lambda tmp: POINTS_MODEL(torch.rand(1, 5, 2))),
    ("encoder-empty-inputs", ValueError, r"at least one element \(M ≥ 1\), got shape \(2, 0, 10\)",
     lambda tmp: MODEL.encoder(torch.randn(2, 0, 10))),
    ("encoder-wrong-width", ValueError, r"inputs must have 10 channels \(last dim\), got shape \(2, 40, 30\)",
     lambda tmp: MODEL.encoder(torch.randn(2, 40, 30))),
    ("encoder-latents-batch-mismatch", ValueError, r"latents batch \(3\) must match inputs batch \(2\)",
     lambda tmp: MODEL.encoder(torch.randn(2, 40, 10), latents=torch.randn(3, 8, 16))),
    ("encoder-latents-wrong-width", ValueError, r"latents must have 16 channels \(last dim\), got shape \(2, 8, 5\)",
     lambda tmp: MODEL.encoder(torch.randn(2, 40, 10), latents=torch.randn(2, 8, 5))),
    ("forward-empty-grid", ValueError, r"inputs .*M ≥ 1.*got shape \(2, 0, 1\)",
     lambda tmp: MODEL(torch.randn(2, 0, 1))),
    ("forward-empty-batch", ValueError, r"B ≥ 1.*got shape \(0, 40, 1\)",
     lambda tmp: MODEL(torch.randn(0, 40, 1))),
    ("forward-float64", ValueError, r"inputs must be float32.*got torch.float64",
     lambda tmp: MODEL(torch.randn(2, 40, 1, dtype=torch.float64))),
    ("forward-mask-wrong-length", ValueError, r"mask must be \(B, M\) = \(2, 40\).*got \(2, 39\)",
     lambda tmp: MODEL(torch.randn(2, 40, 1), mask=torch.ones(2, 39, dtype=torch.bool))),
    ("converter-non-gelu", ValueError, r"hidden_act must be a GELU .*got 'relu'",
     lambda tmp: config_from_transformers(SimpleNamespace(hidden_act="relu"), 24)),
    ("converter-state-not-a-mapping", TypeError, r"state_dict must be a mapping.*got list",
     lambda tmp: encoder_state_from_transformers([("encoder.x", torch.zeros(1))])),
    # ---- checkpoint
    ("checkpoint-truncated", ValueError, r"model\.safetensors is corrupt or truncated",
     lambda tmp: load(checkpoint_file(tmp, lambda raw: raw[: len(raw) // 2]))),
    ("checkpoint-corrupt-header", ValueError, r"model\.safetensors is corrupt or truncated.*JSON",
     lambda tmp: load(checkpoint_file(tmp, lambda raw: raw[:8] + b"#" * 16 + raw[24:]))),
    ("checkpoint-empty-file", ValueError, r"model\.safetensors is corrupt or truncated.*header too small",
     lambda tmp: load(checkpoint_file(tmp, lambda raw: b""))),
    ("checkpoint-is-torch-save", ValueError, r"model\.safetensors is a zip archive \(torch\.save's format",
     lambda tmp: load(checkpoint_file(tmp, lambda raw: torch.save(MODEL.state_dict(), tmp / "t.pt")
                                      or (tmp / "t.pt").read_bytes()))),
    ("checkpoint-is-pickle", ValueError, r"model\.safetensors is a pickle .*can run arbitrary code",
     lambda tmp: load(checkpoint_file(tmp, lambda raw: pickle.dumps({"weights": [1.0, 2.0]})))),
    ("checkpoint-config-disagrees", ValueError,
     r"disagrees\.safetensors does not match its Perceiver config: mis-shaped \[encoder\.latents expected \(4, 16\), "
     r"got \(8, 16\)\]", lambda tmp: load(disagreeing_checkpoint(tmp))),
    ("checkpoint-without-config", ValueError, r"bare\.safetensors has no 'perceiver_lite' entry in its metadata",
     lambda tmp: load(save_file({"w": torch.zeros(1)}, tmp / "bare.safetensors") or tmp / "bare.safetensors")),
    ("checkpoint-missing-file", FileNotFoundError, r"no checkpoint at .*absent\.safetensors",
     lambda tmp: load(tmp / "absent.safetensors")),
    ("save-unregistered-model", ValueError, r"Unregistered is not registered for checkpoints",
     lambda tmp: save(Unregistered(), tmp / "x.safetensors")),
    ("register-config-not-dataclass", TypeError, r"config_cls must be a dataclass class, got <class 'dict'>",
     lambda tmp: register(PerceiverEncoder, dict)),
    ("seed-negative", ValueError, r"seed must be in \[0, 2\*\*32\).*got -1", lambda tmp: seed_everything(-1)),
    ("seed-not-an-int", TypeError, r"seed must be an int, got str '0'", lambda tmp: seed_everything("0")),
]


@pytest.mark.parametrize("error, pattern, call", [
    pytest.param(error, pattern, call, id=name, marks=marks)
    for name, error, pattern, call, *marks in CASES])
def test_bad_input_is_refused_clearly(tmp_path, error, pattern, call):
    with pytest.raises(error, match=pattern):
        call(tmp_path)


def test_catalogue_is_broad():
    names = [case[0] for case in CASES]
    assert len(names) == len(set(names)) and len(names) >= 20
    assert {name.split("-")[0] for name in names} >= {"mha", "positions", "cross", "config", "forward", "checkpoint"}
