"""perceiver_lite.position beyond the notebook: equality with transformers, the cache, spacings, bad input."""

import math

import pytest
import torch

from perceiver_lite.position import (
    FourierPositionEncoding,
    LearnedPositionEncoding,
    fourier_channels,
    fourier_features,
    fourier_position_features,
    frequency_bands,
    linear_positions,
)

modeling_perceiver = pytest.importorskip("transformers.models.perceiver.modeling_perceiver")

GRIDS = [
    ((7,), 3, (7,)),
    ((64,), 16, (16000,)),
    ((5, 9), 6, (5, 9)),
    ((12, 12), 32, (224, 224)),
    ((3, 4, 5), 4, (3, 4, 5)),
    ((2, 8, 8), 1, (16, 32, 32)),
]
LAYOUTS = [(True, False), (False, False), (True, True), (False, True)]


@pytest.mark.parametrize("index_dims", [(1,), (10,), (3, 4), (2, 5, 7), (1, 1, 3, 2)])
def test_linear_positions_equal_transformers(index_dims):
    ours = linear_positions(index_dims)
    theirs = modeling_perceiver.build_linear_positions(index_dims)
    assert ours.shape == (*index_dims, len(index_dims)) and ours.dtype == torch.float32
    assert torch.equal(ours, theirs)


def test_linear_positions_range_and_dtype():
    positions = linear_positions((3, 5), output_range=(0.0, 2.0), dtype=torch.float64)
    assert positions.dtype == torch.float64
    assert positions.min().item() == 0.0 and positions.max().item() == 2.0
    torch.testing.assert_close(positions[0, :, 1], torch.linspace(0, 2, 5, dtype=torch.float64))


@pytest.mark.parametrize("concat_pos,sine_only", LAYOUTS)
@pytest.mark.parametrize("index_dims,num_bands,max_resolution", GRIDS)
def test_fourier_features_equal_transformers(index_dims, num_bands, max_resolution, concat_pos, sine_only):
    positions = modeling_perceiver.build_linear_positions(index_dims).reshape(1, -1, len(index_dims))
    theirs = modeling_perceiver.generate_fourier_features(
        positions, num_bands, max_resolution, concat_pos, sine_only
    )
    theirs = theirs.reshape(-1, theirs.shape[-1])  # its batch dim is present only with concat_pos
    for ours in (
        fourier_features(positions[0], num_bands, max_resolution, concat_pos, sine_only),
        fourier_position_features(index_dims, num_bands, max_resolution, concat_pos, sine_only),
        FourierPositionEncoding(num_bands, max_resolution, concat_pos, sine_only)(index_dims),
    ):
        assert ours.shape == theirs.shape
        assert (ours - theirs).abs().max().item() <= 1e-6


@pytest.mark.parametrize("concat_pos,sine_only", LAYOUTS)
@pytest.mark.parametrize("num_dims,num_bands", [(1, 1), (2, 64), (3, 5)])
def test_channel_formula(num_dims, num_bands, concat_pos, sine_only):
    expected = num_dims * ((1 if sine_only else 2) * num_bands + (1 if concat_pos else 0))
    assert fourier_channels(num_dims, num_bands, concat_pos, sine_only) == expected
    encoding = FourierPositionEncoding(num_bands, (8,) * num_dims, concat_pos, sine_only)
    assert encoding.num_channels(num_dims) == expected
    assert encoding((4,) * num_dims).shape == (4**num_dims, expected)


def test_cache_returns_the_same_object_and_no_grad():
    fourier_position_features.cache_clear()
    first = fourier_position_features((6, 10), 4, (6, 10))
    assert fourier_position_features((6, 10), 4, (6, 10)) is first
    assert fourier_position_features((6, 10), 5, (6, 10)) is not first
    assert fourier_position_features.cache_info().hits == 1
    assert not first.requires_grad and first.dtype == torch.float32 and first.device.type == "cpu"


def test_module_shares_the_cache_and_converts():
    encoding = FourierPositionEncoding(4, (6, 10))
    cached = fourier_position_features((6, 10), 4, (6, 10), True, False, "linear")
    assert encoding(torch.Size([6, 10])) is cached
    assert encoding([6, 10], dtype=torch.float64).dtype == torch.float64
    assert not list(encoding.parameters())


def test_cache_built_under_inference_mode_still_trains():
    fourier_position_features.cache_clear()
    with torch.inference_mode():
        fourier_position_features((4, 4), 2, (4, 4))
    features = fourier_position_features((4, 4), 2, (4, 4))
    assert not features.is_inference()
    layer = torch.nn.Linear(features.shape[1], 3)
    layer(features).sum().backward()  # Linear saves its input for the weight gradient
    assert layer.weight.grad is not None


def test_log_spacing_endpoints_and_ratio():
    linear = frequency_bands(6, (64, 10))
    log = frequency_bands(6, (64, 10), spacing="log")
    assert log.shape == linear.shape == (2, 6)
    assert not torch.allclose(log, linear)
    torch.testing.assert_close(log[:, 0], torch.ones(2))
    torch.testing.assert_close(log[:, -1], torch.tensor([32.0, 5.0]))
    ratios = log[:, 1:] / log[:, :-1]  # geometric: one constant ratio per axis
    torch.testing.assert_close(ratios, ratios[:, :1].expand_as(ratios))
    torch.testing.assert_close(log[0], torch.logspace(0, math.log10(32), 6))
    torch.testing.assert_close(linear[0], torch.linspace(1, 32, 6))


def test_log_spacing_changes_the_features_not_the_layout():
    positions = linear_positions((5, 5)).reshape(-1, 2)
    linear = fourier_features(positions, 8, (32, 32))
    log = fourier_features(positions, 8, (32, 32), spacing="log")
    assert log.shape == linear.shape
    assert not torch.allclose(log, linear)
    torch.testing.assert_close(log[:, :2], linear[:, :2])  # raw coordinates and
    torch.testing.assert_close(log[:, [2, 10]], linear[:, [2, 10]])  # the f = 1 band agree
    cached = fourier_position_features((5, 5), 8, (32, 32), True, False, "log")
    assert cached is not fourier_position_features((5, 5), 8, (32, 32), True, False, "linear")
    torch.testing.assert_close(cached, log)


def test_feature_dot_product_depends_only_on_offset():
    torch.manual_seed(0)
    points = torch.rand(20, 3) * 2 - 1
    shift = torch.rand(1, 3) * 0.5 - 0.25
    phi = fourier_features(points, 8, (16, 16, 16), concat_pos=False)
    shifted = fourier_features(points + shift, 8, (16, 16, 16), concat_pos=False)
    torch.testing.assert_close(shifted @ shifted.T, phi @ phi.T, atol=1e-4, rtol=1e-4)


def test_learned_position_encoding():
    torch.manual_seed(0)
    learned = LearnedPositionEncoding(300, 16, init_scale=0.5)
    assert learned.embeddings.shape == (300, 16) and learned.embeddings.requires_grad
    assert abs(learned.embeddings.std().item() - 0.5) < 0.05
    assert learned().shape == (300, 16) and learned(7).shape == (7, 16)
    torch.testing.assert_close(learned(7), learned.embeddings[:7])


def test_an_export_leaves_no_placeholder_in_the_cache():
    from perceiver_lite.perceiver import Perceiver, PerceiverConfig

    model = Perceiver(
        PerceiverConfig(
            input_channels=3, input_shape=(8, 8), num_bands=4, num_latents=8, latent_dim=16, num_classes=5
        )
    ).eval()
    fourier_position_features.cache_clear()  # cold: the trace is the first to ask for the 8×8 grid
    with torch.no_grad():
        torch.export.export(model, (torch.randn(2, 8, 8, 3),))
    features = fourier_position_features((8, 8), 4, (8, 8))
    assert type(features) is torch.Tensor, f"the cache kept a {type(features).__name__} made by the trace"


def test_learned_positions_at_a_new_length_are_an_error_or_an_interpolation():
    torch.manual_seed(0)
    learned = LearnedPositionEncoding(5, 3, init_scale=1.0)
    with pytest.raises(ValueError, match="interpolate=True"):
        learned(9)
    stretched = learned(9, interpolate=True)  # (9, 3): every other row is one of the table's
    assert stretched.shape == (9, 3) and stretched.requires_grad
    torch.testing.assert_close(stretched[::2], learned.embeddings)
    torch.testing.assert_close(stretched[1], (learned.embeddings[0] + learned.embeddings[1]) / 2)
    torch.testing.assert_close(learned(5, interpolate=True), learned.embeddings)
    assert learned(3, interpolate=True).shape == (3, 3)
