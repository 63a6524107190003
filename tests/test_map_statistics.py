"""The two numbers notebook 10 reads off attention maps: the latent-map correlation and the shared part of
the scores, on maps whose answer is known."""

import pytest
import torch

from perceiver_lite.course.viz import latent_map_correlation, shared_score_fraction


def maps_from_scores(scores):
    "Softmax weights (B, X, h, N, M) of scores laid out the same way."
    return scores.softmax(-1)


def test_one_map_for_every_latent_is_correlation_one_and_all_shared():
    scores = torch.randn(2, 1, 1, 1, 50).expand(2, 1, 1, 6, 50)
    print(latent_map_correlation(maps_from_scores(scores)), shared_score_fraction(maps_from_scores(scores)))
    assert torch.allclose(latent_map_correlation(maps_from_scores(scores)), torch.ones(1, 1))
    assert torch.allclose(shared_score_fraction(maps_from_scores(scores)), torch.ones(1, 1))


def test_a_constant_per_latent_changes_nothing():
    "The softmax ignores a constant added to one latent's scores; both numbers must too."
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 2, 2, 5, 40, generator=generator)
    shifted = scores + 10 * torch.randn(3, 2, 2, 5, 1, generator=generator)
    for statistic in (latent_map_correlation, shared_score_fraction):
        assert torch.allclose(
            statistic(maps_from_scores(scores)), statistic(maps_from_scores(shifted)), atol=1e-5
        )


def test_scores_centred_over_the_latents_share_nothing():
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(2, 1, 2, 8, 64, generator=generator)
    centred = scores - scores.mean(-2, keepdim=True)
    fraction = shared_score_fraction(maps_from_scores(centred))
    print("shared part of centred scores:", fraction)
    assert (
        fraction.abs().max()
        < 1e-5
        < shared_score_fraction(maps_from_scores(scores + 3 * scores[..., :1, :])).min()
    )


def test_unrelated_maps_correlate_near_zero_and_a_shared_part_raises_it():
    generator = torch.Generator().manual_seed(2)
    scores = torch.randn(4, 1, 1, 16, 1024, generator=generator)
    alone = latent_map_correlation(maps_from_scores(scores)).item()
    together = latent_map_correlation(maps_from_scores(scores + 2 * scores[:, :, :, :1])).item()
    print(f"unrelated {alone:.3f}, with a shared map {together:.3f}")
    assert abs(alone) < 0.05 and together > 0.3


@pytest.mark.parametrize("statistic", [latent_map_correlation, shared_score_fraction])
def test_refusals(statistic):
    with pytest.raises(ValueError, match=r"weights must be \(B, cross-attends, h, N, M\), got shape"):
        statistic(torch.rand(2, 3, 4))


def test_one_latent_has_nothing_to_compare():
    with pytest.raises(ValueError, match="two or more latents to compare, got N = 1"):
        latent_map_correlation(torch.rand(2, 1, 1, 1, 9))
