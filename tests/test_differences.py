"""The switches between public implementations (appendix A4): each changes what it should and nothing else."""

import math

import pytest
import torch

from perceiver_lite.attention import MultiHeadAttention, attention
from perceiver_lite.blocks import CrossAttentionBlock
from perceiver_lite.perceiver import Perceiver, PerceiverConfig, count_parameters
from perceiver_lite.position import fourier_features, fourier_position_features, frequency_bands
from perceiver_lite.weights.checkpoint import load, save


def flipped(model, **changes):
    "The same weights in a model whose config differs by `changes`."
    config = PerceiverConfig(**{**vars(model.config), **changes})
    other = Perceiver(config).eval()
    other.load_state_dict(model.state_dict())
    return other


@pytest.fixture
def model():
    torch.manual_seed(0)
    return Perceiver(PerceiverConfig(fused=False)).eval()


@pytest.fixture
def inputs():
    return torch.randn(4, 40, 1, generator=torch.Generator().manual_seed(1))


def logits(model, inputs):
    with torch.no_grad():
        return model(inputs)


def test_defaults_are_the_reference_ports_arithmetic_and_the_papers_classifier():
    config = PerceiverConfig()
    assert (config.gelu, config.attention_scale, config.spacing, config.pooling) == (
        "exact",
        "divide",
        "linear",
        "mean",
    )
    names = set(Perceiver(config).state_dict())
    assert not any(name.startswith(("query", "decoder.")) for name in names)


@pytest.mark.parametrize("flag", [dict(gelu="tanh"), dict(attention_scale="multiply"), dict(spacing="log")])
def test_arithmetic_flags_keep_the_parameters(model, flag):
    other = flipped(model, **flag)  # load_state_dict is strict: same names and shapes
    assert count_parameters(other) == count_parameters(model)


def test_tanh_gelu_changes_logits_by_a_small_nonzero_amount(model, inputs):
    change = (logits(flipped(model, gelu="tanh"), inputs) - logits(model, inputs)).abs().max().item()
    assert 0 < change < 1e-2


def test_multiply_equals_divide_within_rounding(model, inputs):
    expected = logits(model, inputs)
    torch.testing.assert_close(
        logits(flipped(model, attention_scale="multiply"), inputs), expected, atol=1e-6, rtol=0
    )


@pytest.mark.parametrize("head_dim, identical", [(16, True), (64, True), (32, False), (96, False)])
def test_divide_and_multiply_are_bit_identical_when_sqrt_d_is_a_power_of_two(head_dim, identical):
    generator = torch.Generator().manual_seed(head_dim)
    q, k, v = (torch.randn(2, 4, n, head_dim, generator=generator) for n in (64, 300, 300))
    divided, multiplied = attention(q, k, v)[0], attention(q, k, v, scale=1 / math.sqrt(head_dim))[0]
    assert torch.equal(divided, multiplied) is identical
    torch.testing.assert_close(multiplied, divided, atol=1e-6, rtol=0)


def test_the_flag_sets_the_written_out_path_and_the_fused_path_ignores_it():
    torch.manual_seed(0)
    tokens = torch.randn(2, 10, 96)
    layers = {
        scale: MultiHeadAttention(96, 96, num_heads=3, attention_scale=scale).eval()
        for scale in ("divide", "multiply")
    }
    layers["multiply"].load_state_dict(layers["divide"].state_dict())
    with torch.no_grad():
        explicit = {scale: layer(tokens, tokens, need_weights=True)[0] for scale, layer in layers.items()}
        fused = {scale: layer(tokens, tokens)[0] for scale, layer in layers.items()}
    assert not torch.equal(explicit["divide"], explicit["multiply"])  # head dim 32: rounding differs
    assert torch.equal(fused["divide"], fused["multiply"])  # SDPA multiplies either way


def test_multiply_is_bit_identical_for_a_model_whose_head_dims_are_powers_of_four():
    torch.manual_seed(0)
    model = Perceiver(
        PerceiverConfig(adapter="none", input_channels=16, latent_dim=64, num_self_heads=4, fused=False)
    ).eval()  # cross head 16 wide, self heads 16 wide
    array = torch.randn(2, 30, 16)
    assert torch.equal(logits(flipped(model, attention_scale="multiply"), array), logits(model, array))


def test_log_spacing_reaches_the_grid_adapter_with_geometric_bands():
    config = PerceiverConfig(spacing="log")
    array = Perceiver(config).adapter(torch.zeros(1, 40, 1))  # (1, 40, 1 + 33): raw value, then positions
    expected = fourier_position_features((40,), 16, (40,), True, False, "log")
    assert torch.equal(array[0, :, 1:], expected)
    assert not torch.equal(expected, fourier_position_features((40,), 16, (40,), True, False, "linear"))
    bands = frequency_bands(16, config.max_resolution, "log")[0]
    ratios = bands[1:] / bands[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, 20 ** (1 / 15)))
    assert (bands[0].item(), round(bands[-1].item(), 4)) == (1.0, 20.0)


def test_log_spacing_reaches_the_point_adapter():
    points = torch.rand(2, 50, 3) * 2 - 1
    array = Perceiver(PerceiverConfig(adapter="points", input_channels=3, spacing="log")).adapter(points)
    expected = fourier_features(points.reshape(-1, 3), 16, (32, 32, 32), concat_pos=False, spacing="log")
    assert torch.equal(array[..., :-3].reshape(-1, expected.shape[1]), expected)


def test_query_pooling_adds_one_query_and_a_one_head_block_and_trains():
    torch.manual_seed(0)
    averaged, queried = Perceiver(PerceiverConfig()), Perceiver(PerceiverConfig(pooling="query"))
    block = CrossAttentionBlock(64, 64, 1)
    assert count_parameters(queried) - count_parameters(averaged) == 64 + count_parameters(block)
    assert queried.query.shape == (1, 64) and queried.decoder.attention.num_heads == 1
    assert queried.decoder.use_query_residual
    raw = torch.randn(3, 40, 1)
    out = queried(raw)
    assert out.shape == (3, 10)
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 2])).backward()
    assert queried.query.grad is not None and queried.query.grad.abs().sum() > 0


def test_query_pooling_is_the_head_applied_to_the_querys_read():
    torch.manual_seed(0)
    model = Perceiver(PerceiverConfig(pooling="query")).eval()
    raw = torch.randn(2, 40, 1)
    with torch.no_grad():
        latents, _ = model.encoder(model.adapter(raw))
        read, _ = model.decoder(model.query.expand(2, -1, -1), latents)  # (B, 1, D)
        torch.testing.assert_close(model(raw), model.head(read[:, 0]), atol=0, rtol=0)


def test_repeated_cross_attention_shares_its_weights_after_the_first():
    counts = {
        n: count_parameters(Perceiver(PerceiverConfig(num_blocks=3, num_cross_attends=n))) for n in (1, 2, 3)
    }
    one_read = count_parameters(Perceiver(PerceiverConfig()).encoder.cross_attends[0])
    assert counts[2] - counts[1] == one_read  # the second read has its own weights...
    assert counts[3] == counts[2]  # ...and every later one reuses them
    unshared = {
        n: count_parameters(
            Perceiver(PerceiverConfig(num_blocks=3, num_cross_attends=n, share_weights=False))
        )
        for n in (1, 3)
    }
    assert unshared[3] - unshared[1] == 2 * one_read


def test_dropping_the_second_read_changes_the_output(model, inputs):
    single = Perceiver(PerceiverConfig(fused=False, num_cross_attends=1)).eval()
    missing, unexpected = single.load_state_dict(model.state_dict(), strict=False)
    assert not missing and all(name.startswith("encoder.cross_attends.1.") for name in unexpected)
    assert not torch.equal(logits(single, inputs), logits(model, inputs))


def test_every_flag_survives_a_checkpoint(tmp_path, inputs):
    torch.manual_seed(0)
    model = Perceiver(
        PerceiverConfig(gelu="tanh", attention_scale="multiply", spacing="log", pooling="query")
    ).eval()
    loaded = load(save(model, tmp_path / "flags.safetensors"))
    assert loaded.config == model.config
    assert torch.equal(logits(loaded, inputs), logits(model, inputs))


@pytest.mark.parametrize(
    "field, bad, allowed",
    [
        ("gelu", "relu", "'exact' or 'tanh'"),
        ("attention_scale", "times", "'divide' or 'multiply'"),
        ("spacing", "geometric", "'linear' or 'log'"),
        ("pooling", "max", "'mean' or 'query'"),
        ("pooling", None, "'mean' or 'query'"),
    ],
)
def test_bad_values_name_the_allowed_ones_and_the_given_one(field, bad, allowed):
    with pytest.raises(ValueError, match=f"{field} must be {allowed}, got {bad!r}"):
        PerceiverConfig(**{field: bad})


def test_bad_attention_scale_in_the_config():
    with pytest.raises(ValueError, match="attention_scale must be 'divide' or 'multiply', got 'times'"):
        PerceiverConfig(attention_scale="times")
