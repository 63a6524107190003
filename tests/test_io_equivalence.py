"""Whole `transformers` Perceiver models converted into perceiver_lite
(`perceiver_lite.weights.convert.from_transformers`).

Small random reference models are built locally from a `transformers.PerceiverConfig` (nothing is downloaded);
their weights are perturbed away from the small initial scale so that logits are of order one, then converted.
The logits are compared with the reference's: bit-identical on the hand-written attention path, within 1e-5 of
the logits' scale on the fused path (`tools/equivalence_report.py` prints the differences)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
from conftest import SMALL_PORT  # noqa: E402
from transformers import PerceiverConfig as ReferenceConfig  # noqa: E402
from transformers.models.perceiver.modeling_perceiver import (  # noqa: E402
    PerceiverBasicDecoder,
    PerceiverClassificationDecoder,
    PerceiverImagePreprocessor,
    PerceiverTextPreprocessor,
)

from perceiver_lite.io import PerceiverIO, PerceiverIOClassifier, PerceiverIOMaskedLM  # noqa: E402
from perceiver_lite.weights.convert import from_transformers, io_state_from_transformers  # noqa: E402

SMALL = dict(SMALL_PORT, image_size=16)
WIDE = dict(
    SMALL,
    num_latents=6,
    d_latents=48,
    d_model=48,
    num_blocks=1,
    num_self_attends_per_block=3,
    num_self_attention_heads=2,
    num_cross_attention_heads=3,
    cross_attention_widening_factor=2,
    self_attention_widening_factor=2,
)


def perturbed(model, seed=1):
    "The reference initialises weights at scale 0.02; larger ones give logits of order one, a sterner test."
    torch.manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    return model.eval()


def image_classifier(settings):
    torch.manual_seed(0)
    model = perturbed(transformers.PerceiverForImageClassificationFourier(ReferenceConfig(**settings)))
    return model, torch.randn(2, 3, 16, 12), torch.rand(2, 16 * 12) > 0.3


def masked_lm(settings):
    torch.manual_seed(0)
    model = perturbed(transformers.PerceiverForMaskedLM(ReferenceConfig(**settings)))
    return model, torch.randint(0, 262, (2, 25)), torch.arange(25) < torch.tensor([[25], [17]])


def basic_decoder_model(settings, **decoder_settings):
    torch.manual_seed(0)
    config = ReferenceConfig(**settings)
    decoder = PerceiverBasicDecoder(
        config,
        **{
            **dict(
                output_num_channels=7,
                output_index_dims=12,
                num_channels=24,
                num_heads=2,
                widening_factor=2,
                trainable_position_encoding_kwargs=dict(num_channels=24, index_dims=12),
            ),
            **decoder_settings,
        },
    )
    model = perturbed(transformers.PerceiverModel(config, decoder=decoder))
    return model, torch.randn(2, 30, settings["d_model"]), torch.rand(2, 30) > 0.3


CASES = {  # name: (builder, the class it converts to)
    "image-fourier": (lambda: image_classifier(SMALL), PerceiverIOClassifier),
    "image-fourier-wide": (lambda: image_classifier(WIDE), PerceiverIOClassifier),
    "masked-lm": (lambda: masked_lm(SMALL), PerceiverIOMaskedLM),
    "masked-lm-wide": (lambda: masked_lm(WIDE), PerceiverIOMaskedLM),
    "basic-decoder": (lambda: basic_decoder_model(SMALL), PerceiverIO),
    "basic-decoder-residual-qkv": (
        lambda: basic_decoder_model(
            WIDE, use_query_residual=True, qk_channels=12, v_channels=18, num_heads=3
        ),
        PerceiverIO,
    ),
    "basic-decoder-no-projection": (lambda: basic_decoder_model(SMALL, final_project=False), PerceiverIO),
}


def logits(model, inputs, mask=None):
    with torch.no_grad():
        return model(inputs, attention_mask=None if mask is None else mask.long()).logits


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "padding-mask"])
def test_logits_bit_identical_on_explicit_path(name, masked):
    build, kind = CASES[name]
    reference, inputs, mask = build()
    mask = mask if masked else None
    ours = from_transformers(reference, fused=False)
    assert type(ours) is kind
    expected = logits(reference, inputs, mask)
    with torch.no_grad():
        got = ours(inputs, mask=mask)
    assert got.shape == expected.shape
    assert torch.equal(got, expected), f"max difference {(got - expected).abs().max().item():.3e}"


@pytest.mark.parametrize("name", CASES)
def test_logits_close_on_fused_path(name):
    """The fast path sums in another order (SDPA, projections moved to the latents' side), so it agrees to
    float32 rounding: within 1e-5 of the logits' scale (the perturbed models' logits reach ~2)."""
    reference, inputs, mask = CASES[name][0]()
    ours = from_transformers(reference)
    for used in (None, mask):
        with torch.no_grad():
            got, expected = ours(inputs, mask=used), logits(reference, inputs, used)
        scale = max(expected.abs().max().item(), 1.0)
        assert (got - expected).abs().max().item() <= 1e-5 * scale, (
            f"max difference {(got - expected).abs().max().item():.3e}"
        )


def test_shapes_follow_the_reference():
    reference, inputs, _ = masked_lm(SMALL)
    assert from_transformers(reference)(inputs).shape == (
        2,
        40,
        262,
    )  # every position is asked, whatever T is
    reference, inputs, _ = image_classifier(SMALL)
    square = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(from_transformers(reference, fused=False)(square), logits(reference, square))


@pytest.mark.parametrize("name", CASES)
def test_every_reference_weight_is_used(name):
    reference, _, _ = CASES[name][0]()
    ours = from_transformers(reference)
    # The masked LM's read-out reuses the input embedding, so its reference holds one extra weight: the bias.
    assert sum(1 for _ in reference.parameters()) == sum(1 for _ in ours.parameters())
    assert sum(p.numel() for p in reference.parameters()) == sum(p.numel() for p in ours.parameters())


def test_classification_decoder_on_a_perceiver_model():
    torch.manual_seed(0)
    config = ReferenceConfig(**SMALL)
    decoder = PerceiverClassificationDecoder(
        config,
        num_channels=32,
        use_query_residual=True,
        trainable_position_encoding_kwargs=dict(num_channels=32, index_dims=1),
    )
    reference = perturbed(
        transformers.PerceiverModel(
            config, input_preprocessor=PerceiverTextPreprocessor(config), decoder=decoder
        )
    )
    ours = from_transformers(reference, fused=False)
    assert type(ours) is PerceiverIOClassifier
    ids = torch.randint(0, 262, (3, 11))
    assert torch.equal(ours(ids), logits(reference, ids))


def test_state_renaming_covers_the_decoder():
    reference, _, _ = basic_decoder_model(SMALL)
    renamed = io_state_from_transformers(reference.state_dict())
    assert set(renamed) == set(from_transformers(reference).state_dict())


def test_unsupported_parts_raise_type_error():
    config = ReferenceConfig(**SMALL)
    with pytest.raises(TypeError, match="supports .*PerceiverForOpticalFlow.*, got PerceiverLayer"):
        from_transformers(
            transformers.models.perceiver.modeling_perceiver.PerceiverLayer(config, q_dim=8, kv_dim=8)
        )
    with pytest.raises(TypeError, match="must have a decoder"):
        from_transformers(transformers.PerceiverModel(config))
    conv = PerceiverImagePreprocessor(
        config,
        prep_type="conv1x1",
        spatial_downsample=1,
        out_channels=16,
        position_encoding_type="trainable",
        concat_or_add_pos="concat",
        trainable_position_encoding_kwargs=dict(num_channels=16, index_dims=256),
    )
    decoder = PerceiverClassificationDecoder(
        config,
        num_channels=32,
        use_query_residual=True,
        trainable_position_encoding_kwargs=dict(num_channels=32, index_dims=1),
    )
    with pytest.raises(TypeError, match="the input preprocessor must be None"):
        from_transformers(transformers.PerceiverModel(config, input_preprocessor=conv, decoder=decoder))
    fourier = PerceiverBasicDecoder(
        config,
        output_num_channels=2,
        position_encoding_type="fourier",
        output_index_dims=(4, 4),
        num_channels=34,
        fourier_position_encoding_kwargs=dict(num_bands=4, max_resolution=(4, 4)),
    )
    with pytest.raises(TypeError, match="trainable position queries"):
        from_transformers(transformers.PerceiverModel(config, decoder=fourier))
