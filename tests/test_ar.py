"""Perceiver AR (notebooks/12_perceiver_ar.ipynb): the causal mask against the formula entry by entry,
causality of both models over random inputs, shapes, the checks at the door, and the counted baselines
on texts small enough to work out by hand."""

import math

import pytest
import torch

from perceiver_lite.attention import MultiHeadAttention
from perceiver_lite.relatives.ar import (
    CausalTransformer,
    MaskedAttention,
    PerceiverAR,
    PerceiverARConfig,
    bigram_bits,
    causal_mask,
    generate,
    unigram_bits,
)


def brute_force_mask(num_latents, num_inputs):
    "Latent i stands for position M − N + i and may read input j when j is not later."
    return torch.tensor(
        [[j <= num_inputs - num_latents + i for j in range(num_inputs)] for i in range(num_latents)],
        dtype=torch.bool,
    ).reshape(num_latents, num_inputs)


def small_config(**overrides):
    settings = dict(
        max_context=24, num_latents=6, latent_dim=16, num_self_attends=2, num_heads=2, widening_factor=2
    )
    return PerceiverARConfig(**{**settings, **overrides})


@pytest.mark.parametrize("num_latents,num_inputs", [(1, 1), (1, 9), (3, 3), (4, 10), (16, 64), (7, 50)])
def test_causal_mask_is_the_formula(num_latents, num_inputs):
    """Inputs first, as the exercise and notebook 03's read_cost take them; the mask is (N, M), N = M by
    default."""
    mask = causal_mask(num_inputs, num_latents)
    assert mask.dtype == torch.bool and mask.shape == (num_latents, num_inputs)
    assert torch.equal(mask, brute_force_mask(num_latents, num_inputs))
    triangle = torch.ones(num_inputs, num_inputs, dtype=torch.bool).tril()
    assert torch.equal(causal_mask(num_inputs, num_inputs), triangle) and torch.equal(
        causal_mask(num_inputs), triangle
    )


@pytest.mark.parametrize("build", [PerceiverAR, CausalTransformer])
def test_outputs_never_depend_on_later_bytes(build):
    """A property over random models, windows and cut points: replacing every byte after t leaves outputs ≤ t
    alone."""
    generator = torch.Generator().manual_seed(0)
    for trial in range(6):
        length = int(torch.randint(2, 25, (), generator=generator))
        torch.manual_seed(trial)
        model = build(small_config(num_latents=int(torch.randint(1, 7, (), generator=generator)))).eval()
        ids = torch.randint(0, 256, (3, length), generator=generator)
        with torch.no_grad():
            before = model(ids)
            positions = torch.arange(
                length - before.shape[1], length
            )  # the position each output row stands for
            for t in range(int(positions[0]), length - 1):
                later = ids.clone()
                later[:, t + 1 :] = (
                    ids[:, t + 1 :] + torch.randint(1, 256, later[:, t + 1 :].shape, generator=generator)
                ) % 256
                after = model(later)
                assert (after - before)[:, positions <= t].abs().max() <= 1e-6, (build.__name__, trial, t)
                assert (after - before)[
                    :, positions == t + 1
                ].abs().max() > 0  # the next output does see byte t + 1


def test_shapes():
    config = small_config()
    ids = torch.randint(0, 256, (2, 24))
    assert PerceiverAR(config)(ids).shape == (2, 6, 256)
    assert PerceiverAR(config)(ids[:, :4]).shape == (2, 4, 256)  # shorter than N: every position is a latent
    assert CausalTransformer(config)(ids).shape == (2, 24, 256)
    assert CausalTransformer(config)(ids[:, :5]).shape == (2, 5, 256)


def test_same_parameters_but_for_one_layer_norm():
    """The baseline is the same size: its extra self-attention block matches the cross-attend's weights, bar
    kv_norm."""
    config = small_config()
    count = lambda model: sum(p.numel() for p in model.parameters())
    assert count(PerceiverAR(config)) - count(CausalTransformer(config)) == 2 * config.latent_dim


def test_masked_attention_is_multi_head_attention_with_per_query_masks():
    torch.manual_seed(0)
    masked, plain = MaskedAttention(16, 16, num_heads=2), MultiHeadAttention(16, 16, num_heads=2)
    plain.load_state_dict(masked.state_dict())
    queries, inputs = torch.randn(2, 3, 16), torch.randn(2, 8, 16)
    with torch.no_grad():
        torch.testing.assert_close(
            masked(queries, inputs, torch.ones(3, 8, dtype=torch.bool))[0], plain(queries, inputs)[0]
        )
        fused, _ = masked(queries, inputs, causal_mask(8, 3))
        written, weights = masked(queries, inputs, causal_mask(8, 3), need_weights=True)
    torch.testing.assert_close(fused, written)
    assert weights.shape == (2, 2, 3, 8) and (weights[..., ~causal_mask(8, 3)] == 0).all()


@pytest.mark.parametrize("build", [PerceiverAR, CausalTransformer])
def test_bad_ids_fail_at_the_door(build):
    model = build(small_config())
    with pytest.raises(ValueError, match=r"1 ≤ T ≤ 24, got \(2, 25\)"):
        model(torch.zeros(2, 25, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 256\), got \[0, 256\]"):
        model(torch.tensor([[0, 256]]))
    with pytest.raises(ValueError, match=r"got \(4,\)"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="int32 or int64"):
        model(torch.zeros(1, 4))


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(num_latents=30), r"num_latents must be ≤ max_context \(24\), got 30"),
        (dict(latent_dim=15), r"latent_dim \(15\) must be divisible by num_heads, got num_heads=2"),
        (dict(num_latents=0), r"num_latents must be ≥ 1, got 0"),
        (dict(num_self_attends=-1), r"num_self_attends must be ≥ 0, got -1"),
    ],
)
def test_bad_configs_fail_when_built(overrides, message):
    with pytest.raises(ValueError, match=message):
        small_config(**overrides)


def test_unigram_bits_by_hand():
    # b"aab": 'a' twice, 'b' once; add one to each of the 256 counts → 'a' 3/259, 'b' 2/259, any other 1/259
    bits = unigram_bits(b"aab", b"abz")
    expected = torch.tensor(
        [-math.log2(3 / 259), -math.log2(2 / 259), -math.log2(1 / 259)], dtype=torch.double
    )
    torch.testing.assert_close(bits, expected)
    assert torch.equal(
        unigram_bits(b"", b"xy"), torch.full((2,), 8.0, dtype=torch.double)
    )  # uniform: log2 256


def test_bigram_bits_by_hand():
    # pairs of b"aab": (a, a) and (a, b). After 'a': 2 pairs, so p(a|a) = p(b|a) = 2/258, p(c|a) = 1/258;
    # after 'b' no pair was seen: 1/256 each, exactly 8 bits
    bits = bigram_bits(b"aab", b"aabac")
    expected = [-math.log2(2 / 258), -math.log2(2 / 258), 8.0, -math.log2(1 / 258)]
    torch.testing.assert_close(bits, torch.tensor(expected, dtype=torch.double))
    assert bigram_bits(b"aab", b"a").shape == (0,)  # one byte has no predecessor to condition on


def test_baselines_want_bytes():
    with pytest.raises(ValueError, match="text must be bytes .* got str"):
        unigram_bits(b"abc", "abc")
    with pytest.raises(ValueError, match="train must be bytes .* got list"):
        bigram_bits([1, 2], b"abc")


def test_generate_extends_and_keeps_the_prompt():
    torch.manual_seed(0)
    model = PerceiverAR(small_config()).eval()
    prompt = torch.randint(0, 256, (2, 30))  # longer than max_context: only the last 24 bytes are read
    greedy = generate(model, prompt, 5, temperature=0)
    assert greedy.shape == (2, 35) and torch.equal(greedy[:, :30], prompt)
    assert torch.equal(greedy, generate(model, prompt, 5, temperature=0))
    with torch.no_grad():
        assert torch.equal(greedy[:, 30], model(prompt[:, -24:])[:, -1].argmax(-1))
    sampled = generate(model, prompt, 5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(sampled, generate(model, prompt, 5, generator=torch.Generator().manual_seed(1)))
