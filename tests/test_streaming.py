"""perceiver_lite.performance.fast: the chunked, online-softmax read equals the whole-array model."""

import pytest
import torch

from perceiver_lite.perceiver import Perceiver, PerceiverConfig
from perceiver_lite.performance.fast import grid_chunks, streamed_cross_attend, streamed_forward
from perceiver_lite.position import fourier_position_features


@pytest.mark.parametrize("shape,chunk", [((37,), 5), ((9, 11), 16), ((3, 4, 5), 7), ((16, 16), 10_000)])
def test_chunks_concatenate_to_the_adapters_array(shape, chunk):
    config = PerceiverConfig(input_channels=2, input_shape=shape, num_bands=5)
    model = Perceiver(config)
    inputs = torch.randn(2, *shape, 2)
    whole = model.adapter(inputs)
    streamed = torch.cat(list(grid_chunks(inputs, config.num_bands, config.max_resolution, chunk)), dim=1)
    torch.testing.assert_close(streamed, whole, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("heads", [1, 2])
def test_streamed_forward_equals_model(heads):
    torch.manual_seed(0)
    config = PerceiverConfig(
        input_channels=3,
        input_shape=(20, 15),
        num_bands=8,
        num_blocks=3,
        num_cross_attends=2,
        num_cross_heads=heads,
        qk_channels=32 if heads == 2 else None,
        share_weights=False,
    )
    model = Perceiver(config).eval()
    image = torch.randn(3, 20, 15, 3)
    with torch.no_grad():
        expected = model(image)
    for chunk in (1, 13, 300, 4096):
        torch.testing.assert_close(streamed_forward(model, image, chunk), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "flags", [dict(pooling="query"), dict(spacing="log"), dict(attention_scale="multiply")]
)
def test_streamed_forward_follows_the_config(flags):
    "Every config flag that changes the read or the pooling is honoured by the streamed model too."
    torch.manual_seed(2)
    model = Perceiver(PerceiverConfig(input_channels=2, input_shape=(12, 10), num_bands=6, **flags)).eval()
    image = torch.randn(2, 12, 10, 2)
    with torch.no_grad():
        expected = model(image)
    torch.testing.assert_close(streamed_forward(model, image, 17), expected, atol=1e-5, rtol=1e-5)


def test_streamed_cross_attend_handles_extreme_scores():
    "The online softmax must not overflow where a naive running sum of exponentials would."
    torch.manual_seed(1)
    model = Perceiver(PerceiverConfig(input_shape=(64,), num_bands=4)).eval()
    block = model.encoder.cross_attends[0]
    array = model.adapter(torch.randn(1, 64, 1) * 1e4)
    latents = model.encoder.latents[None] * 1e3
    with torch.no_grad():
        expected, _ = block(latents, array, need_weights=True)
        got = streamed_cross_attend(block, latents, array.split(7, dim=1))
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-4)


def test_bad_input():
    model = Perceiver(PerceiverConfig())
    with pytest.raises(ValueError, match=r"inputs must be \(B, \?, 1\), got \(2, 40\)"):
        streamed_forward(model, torch.randn(2, 40))
    with pytest.raises(ValueError, match="inputs must be finite"):
        streamed_forward(model, torch.full((2, 40, 1), float("inf")))
    with pytest.raises(ValueError, match="a chunk_size ≥ 1, got adapter='fourier', chunk_size=0"):
        streamed_forward(model, torch.randn(2, 40, 1), chunk_size=0)
    with pytest.raises(
        ValueError, match="grid .'fourier'. adapter and a chunk_size ≥ 1, got adapter='points'"
    ):
        streamed_forward(
            Perceiver(PerceiverConfig(adapter="points", input_channels=3)), torch.randn(1, 10, 3)
        )


def test_position_features_are_cached_per_grid():
    a = fourier_position_features((8, 8), 4, (8, 8))
    assert fourier_position_features((8, 8), 4, (8, 8)) is a
