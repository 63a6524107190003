"""Perceiver IO (perceiver_lite.io): the decoder, the three kinds of output query, the model and its
heads, and the errors raised at their boundaries."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from perceiver_lite.io import (
    ByteAdapter,
    DecoderConfig,
    LearnedQueries,
    PerceiverDecoder,
    PerceiverIO,
    PerceiverIOClassifier,
    PerceiverIOConfig,
    PerceiverIOMaskedLM,
    PixelAdapter,
    fourier_queries,
    input_queries,
)
from perceiver_lite.perceiver import FourierAdapter, PerceiverConfig
from perceiver_lite.weights.convert import from_transformers

GRID, BANDS = (8, 6), 4
ENCODER = PerceiverConfig(
    input_channels=2,
    input_shape=GRID,
    num_bands=BANDS,
    num_latents=8,
    latent_dim=16,
    num_blocks=2,
    num_cross_attends=1,
    num_self_heads=2,
)
POSITIONS = 2 * (2 * BANDS + 1)  # Fourier channels of a 2-D grid


def io_model(query_dim, fused=True, **settings):
    decoder = DecoderConfig(query_dim=query_dim, latent_dim=16, output_channels=3, num_heads=1, fused=fused)
    torch.manual_seed(0)
    encoder = dataclasses.replace(ENCODER, fused=fused)
    return PerceiverIO(PerceiverIOConfig(encoder, decoder, **settings)).eval()


@pytest.fixture
def decoder():
    torch.manual_seed(0)
    return PerceiverDecoder(DecoderConfig(query_dim=12, latent_dim=16, output_channels=3, num_heads=2)).eval()


# --- bad input ---------------------------------------------------------------------------------------


def test_model_refuses_bad_queries():
    model = io_model(POSITIONS)
    image = torch.randn(2, *GRID, 2)
    with pytest.raises(
        ValueError, match=rf"queries must be \(2, \?, {POSITIONS}\), got \(2, 4, {POSITIONS + 1}\)"
    ):
        model(image, torch.randn(2, 4, POSITIONS + 1))
    with pytest.raises(ValueError, match="at least one example .* and one element"):
        model(image, torch.randn(2, 0, POSITIONS))
    with pytest.raises(
        ValueError, match=rf"queries must be \(2, \?, {POSITIONS}\), got \(1, 4, {POSITIONS}\)"
    ):
        model(image, torch.randn(1, 4, POSITIONS))
    with pytest.raises(ValueError, match="queries must be finite"):
        model(image, torch.full((2, 4, POSITIONS), float("nan")))
    with pytest.raises(TypeError, match="queries must be a torch.Tensor"):
        model(image, [[0.0] * POSITIONS])
    with pytest.raises(ValueError, match="no learned queries"):
        model(image)


def test_query_mask_shape_and_dtype_are_checked():
    model = io_model(POSITIONS)
    image, queries = torch.randn(2, *GRID, 2), torch.randn(2, 5, POSITIONS)
    with pytest.raises(
        ValueError,
        match=r"query_mask must be a torch.bool tensor \(B, M\) = \(2, 5\), "
        r"got torch.bool \(2, 4\)",
    ):
        model(image, queries, query_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"got torch.float32"):
        model(image, queries, query_mask=torch.ones(2, 5))
    empty = torch.zeros(2, 5, dtype=torch.bool)  # a padded batch may ask nothing of one example
    assert (model(image, queries, query_mask=empty) == 0).all()


def test_model_refuses_bad_inputs_and_masks():
    model = io_model(POSITIONS)
    with pytest.raises(ValueError, match=r"inputs must be \(B, \?, \?, 2\), got \(2, 8, 6\)"):
        model(torch.randn(2, 8, 6), torch.randn(2, 4, POSITIONS))
    with pytest.raises(ValueError, match=r"mask must leave every example at least one element.*\[1\]"):
        mask = torch.ones(2, 48, dtype=torch.bool)
        mask[1] = False
        model(torch.randn(2, *GRID, 2), torch.randn(2, 4, POSITIONS), mask=mask)


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            dict(decoder=DecoderConfig(latent_dim=32)),
            r"decoder.latent_dim must equal encoder.latent_dim \(64\), got 32",
        ),
        (dict(num_queries=-1), "num_queries must be ≥ 0, got -1"),
        (dict(adapter="bytes"), "got 'bytes' with encoder.adapter 'fourier'"),
        (
            dict(adapter="pixels"),
            "got 'pixels' with encoder.adapter 'fourier'",
        ),  # MNIST-1D's grid has one axis
        (dict(adapter="audio"), "got 'audio'"),
    ],
)
def test_config_parts_must_fit(settings, message):
    with pytest.raises(ValueError, match=message):
        PerceiverIOConfig(**settings)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(query_dim=0), "query_dim must be ≥ 1, got 0"),
        (dict(num_heads=0), "num_heads must be ≥ 1, got 0"),
        (dict(output_channels=0), "output_channels must be ≥ 1, got 0"),
        (dict(qk_channels=-4), "qk_channels must be ≥ 1, got -4"),
        (
            dict(num_heads=3, latent_dim=16),
            r"qk_channels \(16\) must be divisible by num_heads, got num_heads=3",
        ),
    ],
)
def test_decoder_config_is_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        DecoderConfig(**settings)


def test_heads_check_their_configs():
    with pytest.raises(ValueError, match="exactly one learned query, got num_queries 2"):
        PerceiverIOClassifier(PerceiverIOConfig(num_queries=2))
    with pytest.raises(ValueError, match="a masked LM needs adapter 'bytes'"):
        PerceiverIOMaskedLM(PerceiverIOConfig(num_queries=4))


def test_query_indices_are_checked():
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 48\), got \[0, 48\]"):
        fourier_queries(GRID, BANDS, indices=torch.tensor([0, 48]))


def test_models_check_pixels_and_ids_at_the_door():
    encoder = PerceiverConfig(
        input_channels=3, input_shape=(4, 4), num_latents=4, latent_dim=8, num_self_heads=2
    )
    pixels = PerceiverIOClassifier(
        PerceiverIOConfig(encoder, DecoderConfig(query_dim=8, latent_dim=8), 1, "pixels")
    )
    with pytest.raises(ValueError, match=r"inputs must be \(B, 3, \?, \?\), got \(2, 4, 4, 3\)"):
        pixels(torch.randn(2, 4, 4, 3))
    text_encoder = PerceiverConfig(
        input_channels=4, adapter="none", num_latents=4, latent_dim=8, num_self_heads=2
    )
    text = PerceiverIOClassifier(
        PerceiverIOConfig(
            text_encoder, DecoderConfig(query_dim=4, latent_dim=8), 1, "bytes", vocab_size=10, max_positions=6
        )
    )
    with pytest.raises(ValueError, match=r"ids must be \(B, T\) with B ≥ 1 and 1 ≤ T ≤ 6, got \(1, 7\)"):
        text(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 10\), got \[0, 10\]"):
        text(torch.tensor([[0, 10]]))
    with pytest.raises(TypeError, match="torch.float32"):
        text(torch.zeros(1, 3))
    with pytest.raises(TypeError, match="ids must be an int32 or int64 torch.Tensor .*got ndarray"):
        text(np.zeros((1, 3), dtype=np.int64))


class PerceiverForTimeTravel(nn.Module):
    "Stands in for a transformers model this converter does not support (only the class name is read)."


@pytest.mark.parametrize("model", [PerceiverForTimeTravel(), nn.Linear(2, 2), "PerceiverModel"])
def test_unsupported_model_types_raise_type_error(model):
    with pytest.raises(
        TypeError,
        match=r"supports PerceiverForImageClassificationFourier, .*PerceiverForMaskedLM, .*"
        rf"PerceiverModel, got {type(model).__name__}",
    ):
        from_transformers(model)


def test_the_package_never_imports_transformers():
    code = (
        "import sys, perceiver_lite.io, perceiver_lite.weights.convert; print('transformers' in sys.modules)"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "False"
    )


# --- the three kinds of query ----------------------------------------------------------------------


def test_learned_queries_shape():
    torch.manual_seed(0)
    queries = LearnedQueries(5, 12)
    assert queries(3).shape == (3, 5, 12)
    assert queries(3, num_queries=2).shape == (3, 2, 12)
    model = io_model(12, num_queries=5)
    assert model(torch.randn(2, *GRID, 2)).shape == (2, 5, 3)


def test_positional_queries_shape_and_values():
    every = fourier_queries(GRID, BANDS)
    assert every.shape == (48, POSITIONS)
    # on the input's own grid they are exactly the position features the adapter appends
    array = FourierAdapter(ENCODER)(torch.randn(1, *GRID, 2))
    assert torch.equal(every, array[0, :, 2:])
    indices = torch.tensor([[0, 47, 5], [1, 2, 3]])
    assert fourier_queries(GRID, BANDS, indices=indices).shape == (2, 3, POSITIONS)
    assert torch.equal(fourier_queries(GRID, BANDS, indices=indices)[1], every[[1, 2, 3]])
    model = io_model(POSITIONS)
    assert model(torch.randn(2, *GRID, 2), fourier_queries(GRID, BANDS, indices=indices)).shape == (2, 3, 3)
    assert model(torch.randn(2, *GRID, 2), every.expand(2, -1, -1)).shape == (2, 48, 3)


def test_input_queries_shape_and_values():
    model = io_model(ENCODER.input_dim)
    image = torch.randn(2, *GRID, 2)
    array = model.adapter(image)  # (B, M, C)
    indices = torch.tensor([[3, 4], [40, 0]])
    queries = input_queries(array, indices)
    assert queries.shape == (2, 2, ENCODER.input_dim)
    assert torch.equal(queries[1, 0], array[1, 40])
    assert model(image, queries).shape == (2, 2, 3)


def test_a_subset_of_queries_gives_that_subset_of_outputs():
    model = io_model(POSITIONS, fused=False)
    image = torch.randn(2, *GRID, 2)
    with torch.no_grad():
        every = model(image, fourier_queries(GRID, BANDS).expand(2, -1, -1))
        subset = torch.tensor([[7, 3, 30], [0, 47, 12]])
        some = model(image, fourier_queries(GRID, BANDS, indices=subset))
    torch.testing.assert_close(
        some, torch.gather(every, 1, subset[..., None].expand(-1, -1, 3)), atol=1e-6, rtol=1e-5
    )


def test_query_mask_zeroes_only_padded_outputs(decoder):
    queries, latents = torch.randn(2, 5, 12), torch.randn(2, 8, 16)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    with torch.no_grad():
        plain, masked = decoder(queries, latents)[0], decoder(queries, latents, mask)[0]
    assert (masked[1, 2:] == 0).all()
    assert torch.equal(masked[mask], plain[mask])


# --- fused vs explicit ----------------------------------------------------------------------------


def test_fused_and_explicit_paths_agree():
    fused, explicit = io_model(POSITIONS, fused=True), io_model(POSITIONS, fused=False)
    explicit.load_state_dict(fused.state_dict())
    image, mask = torch.randn(2, *GRID, 2), torch.rand(2, 48) > 0.3
    queries = fourier_queries(GRID, BANDS).expand(2, -1, -1)
    with torch.no_grad():
        torch.testing.assert_close(
            fused(image, queries, mask=mask), explicit(image, queries, mask=mask), atol=1e-5, rtol=1e-5
        )


def test_explicit_path_equals_the_weights_path(decoder):
    """need_weights forces the hand-written path, so on an explicit decoder both calls are the same
    computation."""
    decoder.cross_attend.attention.fused = False
    queries, latents = torch.randn(2, 5, 12), torch.randn(2, 8, 16)
    with torch.no_grad():
        outputs, weights = decoder(queries, latents, need_weights=True)
        assert torch.equal(outputs, decoder(queries, latents)[0])
    assert weights.shape == (2, 2, 5, 8)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 5))


# --- heads ------------------------------------------------------------------------------------------


def test_classifier_and_masked_lm_shapes():
    torch.manual_seed(0)
    classifier = PerceiverIOClassifier(
        PerceiverIOConfig(
            PerceiverConfig(),
            DecoderConfig(query_dim=64, output_channels=10, use_query_residual=True),
            num_queries=1,
        )
    )
    assert classifier(torch.randn(3, 40, 1)).shape == (3, 10)
    text = PerceiverConfig(input_channels=16, adapter="none", num_latents=8, latent_dim=32, num_self_heads=4)
    lm = PerceiverIOMaskedLM(
        PerceiverIOConfig(
            text,
            DecoderConfig(query_dim=16, latent_dim=32, output_channels=None),
            num_queries=12,
            adapter="bytes",
            vocab_size=20,
            max_positions=12,
        )
    )
    ids = torch.randint(0, 20, (2, 7))
    assert lm(ids, mask=torch.ones(2, 7, dtype=torch.bool)).shape == (2, 12, 20)
    # the read-out is tied to the input embedding: one weight, used twice
    assert sum(p.data_ptr() == lm.adapter.embeddings.weight.data_ptr() for p in lm.parameters()) == 1


def test_pixel_adapter_is_the_fourier_adapter_on_channels_first_images():
    config = PerceiverConfig(input_channels=3, input_shape=(5, 7), num_bands=3)
    pixels = torch.randn(2, 3, 5, 7)
    assert torch.equal(PixelAdapter(config)(pixels), FourierAdapter(config)(pixels.permute(0, 2, 3, 1)))


# --- the byte adapter's local context ----------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 3, 9])
def test_byte_context_reaches_exactly_its_width(width):
    "A byte's row changes when a byte within the convolution's reach changes, and only then."
    torch.manual_seed(0)
    adapter = ByteAdapter(vocab_size=20, max_positions=32, channels=8, context=width).eval()
    ids = torch.randint(0, 20, (1, 32))
    changed = ids.clone()
    changed[0, 16] = (ids[0, 16] + 1) % 20
    with torch.no_grad():
        moved = (adapter(changed) - adapter(ids)).abs().amax(-1)[0] > 0  # (T,)
    reach = torch.zeros(32, dtype=torch.bool)
    reach[16 - width // 2 : 16 + width // 2 + 1] = (
        True  # output t reads inputs t - width // 2 … t + width // 2
    )
    assert torch.equal(moved, reach)


def test_byte_context_zero_is_the_reference_adapter():
    torch.manual_seed(0)
    plain = ByteAdapter(vocab_size=20, max_positions=8, channels=4)
    assert plain.context is None
    assert set(plain.state_dict()) == {"embeddings.weight", "positions.embeddings"}
    config = PerceiverIOConfig(
        PerceiverConfig(input_channels=4, adapter="none", num_latents=4, latent_dim=8),
        DecoderConfig(query_dim=4, latent_dim=8),
        adapter="bytes",
        vocab_size=20,
        max_positions=8,
        byte_context=3,
    )
    assert PerceiverIO(config).adapter.context.conv.kernel_size == (3,)


@pytest.mark.parametrize(
    "settings, given",
    [
        (dict(adapter="bytes", byte_context=4), "4 with adapter 'bytes'"),
        (dict(byte_context=5), "5 with adapter 'encoder'"),
    ],
)
def test_byte_context_is_checked(settings, given):
    """An even width has no centre; a width without the bytes adapter has nothing to mix (a negative one: see
    bad input)."""
    encoder = PerceiverConfig(adapter="none") if settings.get("adapter") == "bytes" else PerceiverConfig()
    with pytest.raises(
        ValueError, match=f"byte_context must be 0 or odd, and 0 unless adapter is 'bytes', got {given}"
    ):
        PerceiverIOConfig(encoder, DecoderConfig(), **settings)
