"""Bad inputs at the doors of the relatives (notebooks 12–14: Perceiver AR, sets and the resampler, HiP):
generation's counts and temperatures, the causal mask's sizes, every exported config's fields, and a
feature of an empty set. Each must raise ValueError or TypeError with a message naming what was
expected and what was given — never return −∞, NaN or a silently wrong answer."""

import math

import pytest
import torch

from perceiver_lite.relatives.ar import (
    CausalTransformer,
    PerceiverAR,
    PerceiverARConfig,
    causal_mask,
    generate,
)
from perceiver_lite.relatives.hip import HiP, HiPConfig
from perceiver_lite.relatives.sets import (
    DeepSets,
    DeepSetsConfig,
    PerceiverResampler,
    ResamplerConfig,
    SetTransformer,
    SetTransformerConfig,
    append_log_count,
)

torch.manual_seed(0)
AR = PerceiverAR(PerceiverARConfig(max_context=16, num_latents=4, latent_dim=16, num_heads=2)).eval()
PROMPT = torch.randint(0, 256, (2, 8))


# generation: counts and temperatures no caller means


@pytest.mark.parametrize(
    "num_bytes,message",
    [
        (0, r"num_bytes must be an int ≥ 1, got 0"),
        (-3, r"num_bytes must be an int ≥ 1, got -3"),
        (2.0, r"num_bytes must be an int ≥ 1, got 2.0"),
        (True, r"num_bytes must be an int ≥ 1, got True"),
    ],
)
def test_generate_refuses_counts_below_one(num_bytes, message):
    with pytest.raises(ValueError, match=message):
        generate(AR, PROMPT, num_bytes)


@pytest.mark.parametrize("temperature", [-0.5, math.nan, math.inf, "0.7", None, True, torch.tensor(0.7)])
def test_generate_refuses_temperatures_that_are_not_finite_and_non_negative(temperature):
    with pytest.raises(
        ValueError, match=r"temperature must be a finite number ≥ 0 \(0 takes the most likely byte\), got"
    ):
        generate(AR, PROMPT, 3, temperature=temperature)


@pytest.mark.parametrize("build", [PerceiverAR, CausalTransformer])
def test_generate_checks_the_prompt_at_the_door(build):
    model = build(AR.config).eval()
    with pytest.raises(ValueError, match=r"ids must be \(B, T\) .* got \(8,\)"):
        generate(model, PROMPT[0], 3)  # one prompt without its batch axis
    with pytest.raises(ValueError, match=r"ids must be \(B, T\) .* got \(2, 0\)"):
        generate(model, PROMPT[:, :0], 3)  # nothing to continue from
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 256\), got \[0, 300\]"):
        generate(model, torch.tensor([[0, 300]]), 3)
    with pytest.raises(TypeError, match="int32 or int64"):
        generate(model, PROMPT.float(), 3)


def test_generate_still_takes_what_callers_mean():
    "The door lets through what the notebook uses: integers ≥ 1, temperature 0 and positive floats or ints."
    assert generate(AR, PROMPT, 1, temperature=0).shape == (2, 9)
    assert generate(AR, PROMPT, 2, temperature=1).shape == (2, 10)
    assert generate(AR, PROMPT, 2, temperature=0.7, generator=torch.Generator().manual_seed(0)).shape == (
        2,
        10,
    )
    assert generate(AR, torch.randint(0, 256, (1, 40)), 2, temperature=0).shape == (
        1,
        42,
    )  # longer than max_context


# the causal mask's sizes: inputs first, N ≤ M


@pytest.mark.parametrize(
    "args,message",
    [
        ((3, 8), r"1 ≤ num_latents ≤ num_inputs .* got num_inputs=3, num_latents=8"),  # (N, M), the old order
        ((0,), r"got num_inputs=0, num_latents=0"),
        ((5, 0), r"got num_inputs=5, num_latents=0"),
        ((5.0, 2), r"got num_inputs=5.0, num_latents=2"),
    ],
)
def test_causal_mask_refuses_sizes_no_mask_has(args, message):
    with pytest.raises(ValueError, match=message):
        causal_mask(*args)


# every exported config checks its fields


@pytest.mark.parametrize(
    "build,fields,error,message",
    [
        (PerceiverARConfig, dict(num_heads=0), ValueError, r"num_heads must be ≥ 1, got 0"),
        (PerceiverARConfig, dict(max_context=8.0), TypeError, r"max_context must be an int, got 8.0"),
        (DeepSetsConfig, dict(width=0), ValueError, r"width must be ≥ 1, got 0"),
        (DeepSetsConfig, dict(input_channels="4"), TypeError, r"input_channels must be an int, got '4'"),
        (
            SetTransformerConfig,
            dict(dim=30),
            ValueError,
            r"dim \(30\) must be divisible by num_heads, got num_heads=4",
        ),
        (SetTransformerConfig, dict(num_isabs=-1), ValueError, r"num_isabs must be ≥ 0, got -1"),
        (SetTransformerConfig, dict(num_inducing=0), ValueError, r"num_inducing must be ≥ 1, got 0"),
        (SetTransformerConfig, dict(post_norm="no"), TypeError, r"post_norm must be True or False, got 'no'"),
        (ResamplerConfig, dict(num_latents=0), ValueError, r"num_latents must be ≥ 1, got 0"),
        (ResamplerConfig, dict(max_frames=2.5), TypeError, r"max_frames must be an int, got 2.5"),
        (
            ResamplerConfig,
            dict(dim=30),
            ValueError,
            r"dim \(30\) must be divisible by num_heads, got num_heads=4",
        ),
        (
            ResamplerConfig,
            dict(time_embeddings=None),
            TypeError,
            r"time_embeddings must be True or False, got None",
        ),
        (
            HiPConfig,
            dict(input_shape=(4100,)),
            ValueError,
            r"M an int divisible by num_groups\[0\] = 16.* got \(4100,\)",
        ),
        (
            HiPConfig,
            dict(max_resolution=(0,)),
            ValueError,
            r"max_resolution positive, got \(4096,\) and \(0,\)",
        ),
        (HiPConfig, dict(fused="yes"), TypeError, r"fused must be True or False, got 'yes'"),
        (
            HiPConfig,
            dict(num_groups=(16, 3, 1), num_latents=(8, 16, 32)),
            ValueError,
            r"must divide the one before",
        ),
    ],
)
def test_configs_check_their_fields(build, fields, error, message):
    with pytest.raises(error, match=message):
        build(**fields)


def test_checked_configs_still_build_their_models():
    "The defaults, and the variants the notebooks use, pass their own checks."
    assert DeepSets(DeepSetsConfig()) and SetTransformer(SetTransformerConfig(post_norm=False, num_isabs=0))
    assert PerceiverResampler(
        ResamplerConfig(num_layers=1, num_heads=1, widening_factor=1, time_embeddings=False)
    )
    assert (
        HiP(HiPConfig())
        and HiP(HiPConfig(input_shape=(1024,)))
        and HiP(HiPConfig(num_groups=(1,), num_latents=(32,)))
    )


# a feature of an empty set


def test_log_count_of_an_empty_set_is_refused_not_minus_infinity():
    elements = torch.randn(3, 5, 4)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False  # the second set keeps no element: its size is 0, and log 0 = −∞
    with pytest.raises(
        ValueError, match=r"mask must leave every example at least one element .* examples \[1\]"
    ):
        append_log_count(elements, mask)
    with pytest.raises(ValueError, match=r"elements must hold at least one example .* got shape \(3, 0, 4\)"):
        append_log_count(torch.randn(3, 0, 4))  # sets of no elements and no mask


def test_log_count_checks_its_arguments():
    with pytest.raises(
        ValueError, match=r"mask must be a torch.bool tensor \(B, M\) = \(3, 5\), got torch.int64 \(3, 5\)"
    ):
        append_log_count(torch.randn(3, 5, 4), torch.ones(3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"elements must be \(B, \?, \?\), got \(5, 4\)"):
        append_log_count(torch.randn(5, 4))
    with pytest.raises(TypeError, match=r"elements must be a torch.Tensor"):
        append_log_count([[[1.0]]])


def test_log_count_is_finite_where_every_set_has_elements():
    elements, mask = (
        torch.randn(2, 6, 3),
        torch.tensor([[True] * 6, [True, False, True, False, False, False]]),
    )
    counted = append_log_count(elements, mask)
    assert counted.shape == (2, 6, 4) and torch.isfinite(counted).all()
    torch.testing.assert_close(counted[:, 0, -1], torch.tensor([math.log(6), math.log(2)]))
    torch.testing.assert_close(append_log_count(elements)[:, :, -1], torch.full((2, 6), math.log(6)))


# HiP's grouping and decoder: counts that do not fit


@pytest.mark.parametrize(
    "num_groups,message",
    [
        (5, r"num_groups must be an int ≥ 1 that divides the array's length M \(12\), got 5"),
        (0, r"divides the array's length M \(12\), got 0"),
        (2.0, r"got 2.0"),
    ],
)
def test_group_refuses_group_counts_that_do_not_divide_the_length(num_groups, message):
    from perceiver_lite.relatives.hip import group

    with pytest.raises(ValueError, match=message):
        group(torch.randn(2, 12, 3), num_groups)


def test_ungroup_refuses_group_counts_that_do_not_divide_the_rows():
    from perceiver_lite.relatives.hip import group, ungroup

    grouped = group(torch.randn(2, 12, 3), 4)  # (8, 3, 3)
    with pytest.raises(ValueError, match=r"divides the grouped rows B·G \(8\), got 3"):
        ungroup(grouped, 3)
    assert ungroup(grouped, 4).shape == (2, 12, 3)


@pytest.mark.parametrize("out_channels", [0, -1, 1.5, None])
def test_hip_decoder_refuses_output_widths_below_one(out_channels):
    from perceiver_lite.relatives.hip import HiPDecoder

    with pytest.raises(ValueError, match=rf"out_channels must be an int ≥ 1, got {out_channels!r}"):
        HiPDecoder(HiPConfig(), out_channels)
