"""The opt-in centred queries of notebook 10 (`PerceiverConfig(centre_cross_queries=True)`): what they
remove, what they keep, and that a saved centred model comes back centred."""

import torch

from perceiver_lite.attention import split_heads
from perceiver_lite.blocks import CentredLinear
from perceiver_lite.perceiver import Perceiver, PerceiverConfig
from perceiver_lite.weights.checkpoint import load, save

CONFIG = dict(num_latents=8, latent_dim=16, num_self_heads=2, num_cross_heads=2, qk_channels=8, num_bands=4)


def test_a_centred_model_starts_from_the_plain_models_weights():
    torch.manual_seed(0)
    plain = Perceiver(PerceiverConfig(**CONFIG))
    torch.manual_seed(0)
    centred = Perceiver(PerceiverConfig(**CONFIG, centre_cross_queries=True))
    assert list(plain.state_dict()) == list(centred.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), centred.state_dict().values()))
    assert all(isinstance(block.attention.to_q, CentredLinear) for block in centred.encoder.cross_attends)
    assert not any(isinstance(m, CentredLinear) for m in plain.modules())


def test_centred_queries_sum_to_zero_over_the_latents_and_keep_their_differences():
    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 8)
    rows = torch.randn(3, 8, 16)  # (B, N, in)
    centred = CentredLinear(linear)(rows)
    print("largest |sum over latents|:", centred.sum(1).abs().max().item())
    assert centred.sum(1).abs().max() < 1e-5
    plain = linear(rows)
    assert torch.allclose(centred, plain - plain.mean(1, keepdim=True), atol=1e-6)
    assert torch.allclose(centred[:, 1:] - centred[:, :1], plain[:, 1:] - plain[:, :1], atol=1e-5)


def test_no_part_of_the_scores_is_shared_by_every_latent():
    torch.manual_seed(0)
    model = Perceiver(PerceiverConfig(**CONFIG, centre_cross_queries=True)).eval()
    raw = torch.randn(2, 40, 1)
    block, array = model.encoder.cross_attends[0], model.adapter(raw)
    latents = model.encoder.latents.expand(2, -1, -1)
    q = split_heads(block.attention.to_q(block.q_norm(latents)), 2)  # (B, h, N, d)
    k = split_heads(block.attention.to_k(block.kv_norm(array)), 2)  # (B, h, M, d)
    scores = q @ k.transpose(-1, -2)  # (B, h, N, M)
    print("largest |mean over latents| of a score:", scores.mean(-2).abs().max().item())
    assert scores.mean(-2).abs().max() < 1e-5 < scores.abs().max()


def test_a_saved_centred_model_loads_centred(tmp_path):
    torch.manual_seed(0)
    model = Perceiver(PerceiverConfig(**CONFIG, centre_cross_queries=True)).eval()
    again = load(save(model, tmp_path / "centred.safetensors"))
    raw = torch.randn(2, 40, 1)
    assert again.config.centre_cross_queries
    with torch.no_grad():
        assert torch.equal(model(raw), again(raw))
