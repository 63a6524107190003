"""perceiver_lite.blocks and the latent-side read (perceiver_lite.performance.fast): values and gradients
against the plain block."""

import pytest
import torch

from perceiver_lite.blocks import CrossAttentionBlock, LatentTower, SelfAttentionBlock
from perceiver_lite.performance.fast import LatentSideCrossAttention


def pair(q_dim, kv_dim, heads, qk=None, v=None, fused=True):
    "A plain cross-attend and a latent-side one with the same weights."
    torch.manual_seed(0)
    plain = CrossAttentionBlock(q_dim, kv_dim, heads, qk, v, fused=fused)
    moved = LatentSideCrossAttention(q_dim, kv_dim, heads, qk, v, fused=fused)
    moved.load_state_dict(plain.state_dict())
    return plain, moved


@pytest.mark.parametrize("heads,qk,v", [(1, None, None), (2, 16, 32), (4, 8, 8)])
@pytest.mark.parametrize("fused", [True, False])
def test_latent_side_equals_standard(heads, qk, v, fused):
    plain, moved = pair(24, 10, heads, qk or 10, v, fused)
    queries, inputs, keep = torch.randn(3, 6, 24), torch.randn(3, 70, 10), torch.rand(3, 70) > 0.3
    torch.testing.assert_close(
        moved(queries, inputs, keep)[0], plain(queries, inputs, keep)[0], atol=1e-5, rtol=1e-5
    )


def test_latent_side_forms_weights_the_plain_way_when_asked():
    plain, moved = pair(16, 12, 2)
    queries, inputs = torch.randn(1, 4, 16), torch.randn(1, 30, 12)
    assert torch.equal(
        moved(queries, inputs, need_weights=True)[1], plain(queries, inputs, need_weights=True)[1]
    )


def test_latent_side_gradients_match():
    plain, moved = pair(32, 40, 1)
    latents, inputs = torch.randn(2, 8, 32), torch.randn(2, 500, 40)
    grads = []
    for block in (plain, moved):
        out, _ = block(latents, inputs)
        (out**2).sum().backward()
        # the key bias cancels in the softmax: no gradient on the latent side, ~0 on the plain path
        grads.append([torch.zeros_like(p) if p.grad is None else p.grad for p in block.parameters()])
    for explicit, fast in zip(*grads):
        torch.testing.assert_close(fast, explicit, atol=1e-4, rtol=1e-4)


def test_self_attention_block_fused_equals_explicit():
    torch.manual_seed(2)
    block = SelfAttentionBlock(32, num_heads=4).eval()
    latents = torch.randn(2, 16, 32)
    torch.testing.assert_close(block(latents)[0], block(latents, need_weights=True)[0], atol=1e-5, rtol=1e-5)


def test_tower_applies_its_blocks_in_order():
    torch.manual_seed(3)
    tower = LatentTower(SelfAttentionBlock(16, num_heads=2) for _ in range(3))
    latents = torch.randn(2, 5, 16)
    expected = latents
    for block in tower:
        expected = block(expected)[0]
    assert torch.equal(tower(latents), expected)
