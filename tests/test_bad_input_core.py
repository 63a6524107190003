"""Bad input to the core modules (attention, position, blocks, io): each public config and constructor checks
its counts and choices, and says what it expected and what it got — a value nobody means fails where it is
given, never silently (a misspelt choice taken as the other branch, a string flag read as True) and never deep
inside torch later."""

import pytest
import torch

from perceiver_lite.attention import MultiHeadAttention, scaling_exponent
from perceiver_lite.blocks import MLP, CrossAttentionBlock, SelfAttentionBlock
from perceiver_lite.io import ByteAdapter, DecoderConfig, LearnedQueries, PerceiverIOConfig, input_queries
from perceiver_lite.perceiver import PerceiverConfig
from perceiver_lite.position import (
    FourierPositionEncoding,
    LearnedPositionEncoding,
    fourier_features,
    frequency_bands,
)

CASES = [
    # attention.py
    (
        "attention-scale-misspelt",
        ValueError,
        r"attention_scale must be 'divide' or 'multiply', got 'divided'",
        lambda: MultiHeadAttention(8, 8, attention_scale="divided"),
    ),
    (
        "attention-zero-heads",
        ValueError,
        r"num_heads must be ≥ 1, got 0",
        lambda: MultiHeadAttention(8, 8, num_heads=0),
    ),
    (
        "attention-heads-split-width",
        ValueError,
        r"qk_channels \(10\) must be divisible by num_heads, got num_heads=4",
        lambda: MultiHeadAttention(10, 10, num_heads=4),
    ),
    (
        "attention-float-heads",
        TypeError,
        r"num_heads must be an int, got 2.0",
        lambda: MultiHeadAttention(8, 8, num_heads=2.0),
    ),
    (
        "slope-one-size",
        ValueError,
        r"two or more paired numbers, got 1 and 1",
        lambda: scaling_exponent([4], [1.0]),
    ),
    (
        "slope-unpaired",
        ValueError,
        r"two or more paired numbers, got 3 and 2",
        lambda: scaling_exponent([1, 2, 4], [1, 2]),
    ),
    (
        "slope-zero-time",
        ValueError,
        r"values positive, got \[1, 2, 4\], \[1.0, 0.0, 2.0\]",
        lambda: scaling_exponent([1, 2, 4], [1.0, 0.0, 2.0]),
    ),
    (
        "slope-repeated-size",
        ValueError,
        r"sizes must be distinct",
        lambda: scaling_exponent([2, 2, 4], [1, 2, 3]),
    ),
    # position.py
    (
        "bands-spacing-misspelt",
        ValueError,
        r"spacing must be 'linear' or 'log', got 'Log'",
        lambda: frequency_bands(4, (16,), spacing="Log"),
    ),
    (
        "features-spacing-misspelt",
        ValueError,
        r"spacing must be 'linear' or 'log', got 'geometric'",
        lambda: fourier_features(torch.zeros(5, 1), 4, (16,), spacing="geometric"),
    ),
    (
        "encoding-zero-bands",
        ValueError,
        r"num_bands must be ≥ 1, got 0",
        lambda: FourierPositionEncoding(0, (16, 16)),
    ),
    (
        "encoding-spacing",
        ValueError,
        r"spacing must be 'linear' or 'log', got 'logarithmic'",
        lambda: FourierPositionEncoding(4, (16,), spacing="logarithmic"),
    ),
    (
        "encoding-zero-resolution",
        ValueError,
        r"max_resolution must be one or more positive numbers, got \(16, 0\)",
        lambda: FourierPositionEncoding(4, (16, 0)),
    ),
    (
        "encoding-no-resolution",
        ValueError,
        r"max_resolution must be one or more positive numbers, got \(\)",
        lambda: FourierPositionEncoding(4, ()),
    ),
    (
        "encoding-grid-axes",
        ValueError,
        r"index_dims must be 2 sizes ≥ 1, got \(8, 8, 8\)",
        lambda: FourierPositionEncoding(4, (16, 16))((8, 8, 8)),
    ),
    (
        "encoding-empty-grid",
        ValueError,
        r"index_dims must be 2 sizes ≥ 1, got \(8, 0\)",
        lambda: FourierPositionEncoding(4, (16, 16))((8, 0)),
    ),
    (
        "learned-zero-positions",
        ValueError,
        r"num_positions must be ≥ 1, got 0",
        lambda: LearnedPositionEncoding(0, 8),
    ),
    (
        "learned-float-channels",
        TypeError,
        r"channels must be an int, got 8.5",
        lambda: LearnedPositionEncoding(4, 8.5),
    ),
    (
        "learned-more-than-the-table",
        ValueError,
        r"num_positions must lie in \[1, 16\], got 17",
        lambda: LearnedPositionEncoding(16, 8)(17),
    ),
    (
        "learned-none-asked",
        ValueError,
        r"num_positions must lie in \[1, 16\], got 0",
        lambda: LearnedPositionEncoding(16, 8)(0),
    ),
    # blocks.py
    (
        "mlp-gelu-misspelt",
        ValueError,
        r"gelu must be 'exact' or 'tanh', got 'erf'",
        lambda: MLP(8, gelu="erf"),
    ),
    (
        "cross-block-gelu",
        ValueError,
        r"gelu must be 'exact' or 'tanh', got 'Tanh'",
        lambda: CrossAttentionBlock(8, 4, gelu="Tanh"),
    ),
    (
        "self-block-scale",
        ValueError,
        r"attention_scale must be 'divide' or 'multiply', got 'sqrt'",
        lambda: SelfAttentionBlock(8, attention_scale="sqrt"),
    ),
    (
        "self-block-heads",
        ValueError,
        r"qk_channels \(8\) must be divisible by num_heads, got num_heads=3",
        lambda: SelfAttentionBlock(8, num_heads=3),
    ),
    # io.py
    (
        "decoder-residual-string",
        TypeError,
        r"use_query_residual must be True or False, got 'no'",
        lambda: DecoderConfig(use_query_residual="no"),
    ),
    ("decoder-fused-int", TypeError, r"fused must be True or False, got 1", lambda: DecoderConfig(fused=1)),
    (
        "decoder-gelu",
        ValueError,
        r"gelu must be 'exact' or 'tanh', got 'relu'",
        lambda: DecoderConfig(gelu="relu"),
    ),
    (
        "decoder-heads",
        ValueError,
        r"qk_channels \(64\) must be divisible by num_heads, got num_heads=3",
        lambda: DecoderConfig(num_heads=3),
    ),
    (
        "io-encoder-dict",
        TypeError,
        r"encoder must be a PerceiverConfig, got dict",
        lambda: PerceiverIOConfig(encoder={}),
    ),
    (
        "io-decoder-encoder-config",
        TypeError,
        r"decoder must be a DecoderConfig, got PerceiverConfig",
        lambda: PerceiverIOConfig(decoder=PerceiverConfig()),
    ),
    (
        "io-adapter-unknown",
        ValueError,
        r"adapter must be 'encoder', 'pixels' .* got 'image'",
        lambda: PerceiverIOConfig(adapter="image"),
    ),
    (
        "io-negative-queries",
        ValueError,
        r"num_queries must be ≥ 0, got -1",
        lambda: PerceiverIOConfig(num_queries=-1),
    ),
    (
        "io-even-context",
        ValueError,
        r"byte_context must be 0 or odd",
        lambda: PerceiverIOConfig(PerceiverConfig(adapter="none"), adapter="bytes", byte_context=4),
    ),
    (
        "learned-queries-too-many",
        ValueError,
        r"num_positions must lie in \[1, 5\], got 6",
        lambda: LearnedQueries(5, 8)(2, 6),
    ),
    (
        "byte-adapter-zero-positions",
        ValueError,
        r"num_positions must be ≥ 1, got 0",
        lambda: ByteAdapter(262, 0, 8),
    ),
    (
        "input-queries-float-indices",
        ValueError,
        r"an int64 tensor \(B, O\) with B = 2, got torch.float32 \(2, 3\)",
        lambda: input_queries(torch.randn(2, 7, 4), torch.zeros(2, 3)),
    ),
    (
        "input-queries-batch",
        ValueError,
        r"an int64 tensor \(B, O\) with B = 2, got torch.int64 \(3, 3\)",
        lambda: input_queries(torch.randn(2, 7, 4), torch.zeros(3, 3, dtype=torch.long)),
    ),
    (
        "input-queries-out-of-range",
        ValueError,
        r"indices must lie in \[0, 7\), got \[0, 7\]",
        lambda: input_queries(torch.randn(2, 7, 4), torch.tensor([[0, 7], [1, 2]])),
    ),
    (
        "input-queries-negative",
        ValueError,
        r"indices must lie in \[0, 7\), got \[-1, 2\]",
        lambda: input_queries(torch.randn(2, 7, 4), torch.tensor([[0, -1], [1, 2]])),
    ),
    (
        "input-queries-list",
        ValueError,
        r"got list",
        lambda: input_queries(torch.randn(2, 7, 4), [[0, 1], [1, 2]]),
    ),
]


@pytest.mark.parametrize(
    "error, pattern, call", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_input_is_refused_where_it_is_given(error, pattern, call):
    with pytest.raises(error, match=pattern):
        call()


def test_the_checks_leave_good_input_alone():
    """The values the checks guard still work: both choices of each switch, a full table, the bounds of the
    indices."""
    assert frequency_bands(4, (16,), spacing="log").shape == (1, 4)
    assert FourierPositionEncoding(4, (16, 16), spacing="log")((8, 8)).shape == (64, 2 * 9)
    assert LearnedPositionEncoding(16, 8)(16).shape == (16, 8)
    assert LearnedQueries(5, 8)(2).shape == (2, 5, 8)
    for scale in ("divide", "multiply"):
        layer = MultiHeadAttention(8, 8, num_heads=2, attention_scale=scale)
        assert layer(torch.randn(1, 3, 8), torch.randn(1, 5, 8))[0].shape == (1, 3, 8)
    assert MLP(8, gelu="tanh")(torch.randn(2, 8)).shape == (2, 8)
    assert DecoderConfig(use_query_residual=True, fused=False).fused is False
    inputs = torch.randn(2, 7, 4)
    assert torch.equal(input_queries(inputs, torch.tensor([[0, 6], [6, 0]]))[1, 0], inputs[1, 6])
    assert input_queries(inputs, torch.zeros(2, 0, dtype=torch.long)).shape == (2, 0, 4)
    assert scaling_exponent([10, 100], [1.0, 100.0]) == pytest.approx(2.0)
