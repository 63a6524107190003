"""perceiver_lite.attention beyond the notebook: both paths, masks, bad input, measurement helpers."""
import pytest
import torch

from perceiver_lite.attention import MultiHeadAttention, attention, fused_attention, loglog_slope, measure


@pytest.mark.parametrize("num_heads,q_dim,kv_dim", [(1, 16, 16), (4, 32, 7), (8, 64, 261)])
def test_fused_equals_explicit(num_heads, q_dim, kv_dim):
    torch.manual_seed(0)
    layer = MultiHeadAttention(q_dim, kv_dim, num_heads=num_heads, qk_channels=32, v_channels=16, out_dim=q_dim)
    queries, inputs = torch.randn(2, 5, q_dim), torch.randn(2, 40, kv_dim)
    explicit, weights = layer(queries, inputs, need_weights=True)
    fused, none = layer(queries, inputs)
    assert none is None and weights.shape == (2, num_heads, 5, 40)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_mask_equals_deleting_inputs():
    torch.manual_seed(1)
    layer = MultiHeadAttention(8, 8, num_heads=2)
    queries, inputs = torch.randn(1, 3, 8), torch.randn(1, 10, 8)
    keep = torch.tensor([[True] * 6 + [False] * 4])
    for need_weights in (True, False):
        masked, _ = layer(queries, inputs, mask=keep, need_weights=need_weights)
        deleted, _ = layer(queries, inputs[:, :6], need_weights=need_weights)
        torch.testing.assert_close(masked, deleted, atol=1e-6, rtol=1e-5)


def test_functions_agree_and_weights_are_distributions():
    q, k, v = torch.randn(3, 2, 4, 8), torch.randn(3, 2, 9, 8), torch.randn(3, 2, 9, 5)
    out, weights = attention(q, k, v)
    fused, _ = fused_attention(q, k, v)
    torch.testing.assert_close(fused, out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 4))


@pytest.mark.parametrize("call,message", [
    (lambda m: m(torch.randn(4, 16)), "rank 3"),
    (lambda m: m(torch.randn(1, 2, 4, 16)), "rank 3"),
    (lambda m: m(torch.randn(2, 4, 15)), "16 channels"),
    (lambda m: m(torch.randn(2, 4, 16), torch.randn(2, 4, 3)), "16 channels"),
    (lambda m: m(torch.randn(2, 4, 16), torch.randn(3, 4, 16)), "batch"),
    (lambda m: m(torch.randint(0, 5, (2, 4, 16))), "floating-point"),
    (lambda m: m([[1.0] * 16]), "torch.Tensor"),
])
def test_bad_input_names_expected_and_got(call, message):
    layer = MultiHeadAttention(16, num_heads=4)
    with pytest.raises((ValueError, TypeError), match=message):
        call(layer)


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match=r"qk_channels \(30\) must be divisible by num_heads, got num_heads=4"):
        MultiHeadAttention(30, num_heads=4)
    with pytest.raises(ValueError, match="v_channels"):
        MultiHeadAttention(32, num_heads=4, v_channels=10)


def test_measure_and_slope():
    seconds, peak = measure(lambda: torch.ones(2**22), repeats=2)  # 16 MiB per call
    assert seconds > 0
    assert peak != peak or peak >= 8 * 2**20  # nan where /proc is unavailable
    assert loglog_slope([1, 2, 4, 8], [3, 12, 48, 192]) == pytest.approx(2.0)
