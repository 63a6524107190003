"""perceiver_lite.blocks: the fast paths against the written-out path, values and gradients."""
import pytest
import torch

from perceiver_lite.attention import MultiHeadAttention
from perceiver_lite.blocks import CrossAttentionBlock, SelfAttentionBlock, latent_side_attention, latent_side_is_cheaper


@pytest.mark.parametrize("heads,qk,v", [(1, None, None), (2, 16, 32), (4, 8, 8)])
def test_latent_side_equals_standard(heads, qk, v):
    torch.manual_seed(0)
    layer = MultiHeadAttention(24, 10, num_heads=heads, qk_channels=qk or 10, v_channels=v, out_dim=24)
    queries, inputs = torch.randn(3, 6, 24), torch.randn(3, 70, 10)
    expected, _ = layer(queries, inputs, need_weights=True)
    torch.testing.assert_close(latent_side_attention(layer, queries, inputs), expected, atol=1e-5, rtol=1e-5)


def test_latent_side_gradients_match():
    torch.manual_seed(1)
    block = CrossAttentionBlock(32, 40, num_heads=1)
    assert latent_side_is_cheaper(block.attention, 8, 500)
    latents, inputs = torch.randn(2, 8, 32), torch.randn(2, 500, 40)
    grads = []
    for need_weights in (True, False):  # written-out path, then latent-side path
        block.zero_grad()
        out, _ = block(latents, inputs, need_weights=need_weights)
        (out ** 2).sum().backward()
        # the key bias cancels in the softmax: no gradient on the latent side, ~0 on the written-out path
        grads.append([torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in block.parameters()])
    for explicit, fast in zip(*grads):
        torch.testing.assert_close(fast, explicit, atol=1e-4, rtol=1e-4)


def test_cost_rule_prefers_standard_for_many_narrow_heads():
    layer = MultiHeadAttention(64, 64, num_heads=8)
    assert not latent_side_is_cheaper(layer, 256, 256)
    assert latent_side_is_cheaper(MultiHeadAttention(256, 261, num_heads=1, qk_channels=261), 256, 50176)


def test_self_attention_block_fused_equals_explicit():
    torch.manual_seed(2)
    block = SelfAttentionBlock(32, num_heads=4).eval()
    latents = torch.randn(2, 16, 32)
    torch.testing.assert_close(block(latents)[0], block(latents, need_weights=True)[0], atol=1e-5, rtol=1e-5)


def test_wide_heads_train_on_written_out_path():
    "Gradients through fused_attention for heads wider than 64 channels equal the written-out ones."
    from perceiver_lite.attention import attention, fused_attention

    q, k, v = (torch.randn(1, 1, 20, 100, requires_grad=True) for _ in range(3))
    fused, _ = fused_attention(q, k, v)
    explicit, _ = attention(q, k, v)
    torch.testing.assert_close(fused, explicit)
