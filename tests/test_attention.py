"""perceiver_lite.attention beyond the notebook: the fused and written-out paths, masks, the score scale."""

import math

import pytest
import torch
import torch.nn.functional as F

from perceiver_lite.attention import MultiHeadAttention, attention, merge_heads, scaling_exponent, split_heads
from perceiver_lite.performance.fast import measure


@pytest.mark.parametrize("num_heads,q_dim,kv_dim", [(1, 16, 16), (4, 32, 7), (8, 64, 261)])
def test_fused_equals_explicit(num_heads, q_dim, kv_dim):
    torch.manual_seed(0)
    layer = MultiHeadAttention(
        q_dim, kv_dim, num_heads=num_heads, qk_channels=32, v_channels=16, out_dim=q_dim
    )
    queries, inputs = torch.randn(2, 5, q_dim), torch.randn(2, 40, kv_dim)
    explicit, weights = layer(queries, inputs, need_weights=True)
    fused, none = layer(queries, inputs)
    assert none is None and weights.shape == (2, num_heads, 5, 40)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_unfused_layer_forms_the_weights_every_time():
    layer = MultiHeadAttention(8, 8, num_heads=2, fused=False)
    tokens = torch.randn(1, 5, 8)
    _, weights = layer(tokens, tokens, need_weights=True)
    assert weights.shape == (1, 2, 5, 5)
    assert layer(tokens, tokens)[1] is not None  # the written-out path hands its weights back


def test_mask_equals_deleting_inputs():
    torch.manual_seed(1)
    layer = MultiHeadAttention(8, 8, num_heads=2)
    queries, inputs = torch.randn(1, 3, 8), torch.randn(1, 10, 8)
    keep = torch.tensor([[True] * 6 + [False] * 4])
    for need_weights in (True, False):
        masked, _ = layer(queries, inputs, mask=keep, need_weights=need_weights)
        deleted, _ = layer(queries, inputs[:, :6], need_weights=need_weights)
        torch.testing.assert_close(masked, deleted, atol=1e-6, rtol=1e-5)


def test_formula_agrees_with_sdpa_and_weights_are_distributions():
    q, k, v = torch.randn(3, 2, 4, 8), torch.randn(3, 2, 9, 8), torch.randn(3, 2, 9, 5)
    out, weights = attention(q, k, v)
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v), out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 4))


@pytest.mark.parametrize("head_width", [16, 32])
def test_multiply_scale_is_one_over_root_d(head_width):
    torch.manual_seed(2)
    divide = MultiHeadAttention(2 * head_width, 2 * head_width, num_heads=2, fused=False)
    multiply = MultiHeadAttention(
        2 * head_width, 2 * head_width, num_heads=2, fused=False, attention_scale="multiply"
    )
    multiply.load_state_dict(divide.state_dict())
    assert multiply.scale == 1 / math.sqrt(head_width) and divide.scale is None
    tokens = torch.randn(2, 7, 2 * head_width)
    torch.testing.assert_close(multiply(tokens, tokens)[0], divide(tokens, tokens)[0], atol=1e-6, rtol=0)


def test_heads_split_and_merge_back():
    array = torch.randn(2, 5, 12)
    heads = split_heads(array, 3)
    assert heads.shape == (2, 3, 5, 4)
    torch.testing.assert_close(heads[:, 1], array[..., 4:8])
    assert torch.equal(merge_heads(heads), array)


def test_measure_and_slope():
    seconds, peak = measure(lambda: torch.ones(2**22), repeats=2)  # 16 MiB per call
    assert seconds > 0
    assert peak != peak or peak >= 8 * 2**20  # nan where /proc is unavailable
    assert scaling_exponent([1, 2, 4, 8], [3, 12, 48, 192]) == pytest.approx(2.0)


def test_a_row_with_every_key_masked_gets_zeros_and_finite_gradients():
    torch.manual_seed(0)
    queries = torch.randn(2, 2, 3, 8, requires_grad=True)
    keys, values = torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 4)
    mask = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    mask[0, ..., 3:], mask[1] = False, False  # example 1 keeps no key at all
    output, weights = attention(queries, keys, values, mask)
    assert torch.equal(output[1], torch.zeros_like(output[1])) and torch.equal(
        weights[1], torch.zeros_like(weights[1])
    )
    fused = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    torch.testing.assert_close(output, fused)
    output.square().sum().backward()
    assert torch.isfinite(queries.grad).all() and queries.grad[0].abs().sum() > 0


@pytest.mark.parametrize("fused", [True, False])
def test_bfloat16_autocast_on_the_cpu_with_masks(fused):
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 8, num_heads=2, fused=fused)
    queries, inputs = torch.randn(3, 4, 16), torch.randn(3, 6, 8)
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[0, 4:], mask[2] = False, False  # a padded example and one with nothing to read
    expected, _ = layer(queries, inputs, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, _ = layer(queries, inputs, mask, need_weights=not fused)
    assert got.dtype == torch.bfloat16 and torch.isfinite(got).all()
    torch.testing.assert_close(got.float(), expected, atol=0.05, rtol=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="float16 autocast needs a GPU")
@pytest.mark.parametrize("fused", [True, False])
def test_float16_autocast_on_a_gpu_with_masks(fused):
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 8, num_heads=2, fused=fused).cuda()
    queries, inputs = torch.randn(3, 4, 16, device="cuda"), torch.randn(3, 6, 8, device="cuda")
    mask = torch.ones(3, 6, dtype=torch.bool, device="cuda")
    mask[0, 4:], mask[2] = False, False
    expected, _ = layer(queries, inputs, mask)
    with torch.autocast("cuda", dtype=torch.float16):
        got, _ = layer(queries, inputs, mask, need_weights=not fused)
    assert got.dtype == torch.float16 and torch.isfinite(got).all()
    torch.testing.assert_close(got.float(), expected, atol=0.01, rtol=0.01)
