"""perceiver_lite's encoder against the public reference port in `transformers`.

A small random reference model is built locally (no download), its weights are renamed into
perceiver_lite, and the latents after the encoder are compared: bit-identical on the hand-written
attention path, within 1e-5 on the fused SDPA path."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import PerceiverConfig as ReferenceConfig  # noqa: E402
from transformers import PerceiverModel  # noqa: E402

from perceiver_lite.perceiver import PerceiverEncoder  # noqa: E402
from perceiver_lite.weights.convert import (  # noqa: E402
    config_from_transformers,
    encoder_state_from_transformers,
)

SETTINGS = [  # several self-attends per block and several blocks, so the shared tower is exercised
    dict(
        num_latents=16,
        d_latents=32,
        d_model=24,
        num_blocks=3,
        num_self_attends_per_block=2,
        num_self_attention_heads=4,
        num_cross_attention_heads=1,
    ),
    dict(
        num_latents=8,
        d_latents=64,
        d_model=40,
        num_blocks=2,
        num_self_attends_per_block=3,
        num_self_attention_heads=8,
        num_cross_attention_heads=2,
        cross_attention_widening_factor=2,
        self_attention_widening_factor=4,
    ),
    dict(
        num_latents=12,
        d_latents=48,
        d_model=20,
        num_blocks=2,
        num_self_attends_per_block=2,
        num_self_attention_heads=2,
        num_cross_attention_heads=2,
        qk_channels=16,
        v_channels=48,
        use_query_residual=False,
    ),
]


def reference_and_ours(settings, fused):
    torch.manual_seed(0)
    reference = PerceiverModel(ReferenceConfig(**settings)).eval()
    ours = PerceiverEncoder(
        config_from_transformers(reference.config, settings["d_model"], fused=fused)
    ).eval()
    ours.load_state_dict(encoder_state_from_transformers(reference.state_dict()), strict=True)
    return reference, ours


@pytest.mark.parametrize("settings", SETTINGS, ids=["small", "wide-mlp", "qk-v-channels"])
def test_latents_bit_identical_on_explicit_path(settings):
    reference, ours = reference_and_ours(settings, fused=False)
    inputs = torch.randn(3, 50, settings["d_model"])
    with torch.no_grad():
        expected = reference(inputs=inputs).last_hidden_state
        got, _ = ours(inputs)
    assert got.shape == expected.shape == (3, settings["num_latents"], settings["d_latents"])
    assert torch.equal(got, expected), f"max difference {(got - expected).abs().max().item():.3e}"


@pytest.mark.parametrize("settings", SETTINGS, ids=["small", "wide-mlp", "qk-v-channels"])
def test_latents_close_on_fused_path(settings):
    reference, ours = reference_and_ours(settings, fused=True)
    inputs = torch.randn(3, 50, settings["d_model"])
    with torch.no_grad():
        torch.testing.assert_close(
            ours(inputs)[0], reference(inputs=inputs).last_hidden_state, atol=1e-5, rtol=1e-5
        )


def test_cross_attention_maps_match_reference():
    settings = SETTINGS[1]
    reference, ours = reference_and_ours(settings, fused=True)
    inputs = torch.randn(2, 30, settings["d_model"])
    with torch.no_grad():
        expected = reference(inputs=inputs, output_attentions=True).cross_attentions[0]
        _, maps = ours(inputs, need_weights=True)
    assert torch.equal(maps[0], expected)


def test_every_reference_weight_is_used():
    reference, ours = reference_and_ours(SETTINGS[0], fused=False)
    renamed = encoder_state_from_transformers(reference.state_dict())
    assert set(renamed) == set(ours.state_dict())


def test_non_gelu_reference_is_refused():
    config = ReferenceConfig(hidden_act="relu")
    with pytest.raises(ValueError, match="hidden_act must be a GELU.*got 'relu'"):
        config_from_transformers(config, 24)
