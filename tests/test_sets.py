"""The set models of notebook 13: shapes, permutation and duplication (in)variance, the Set Transformer's
inner read as the Perceiver's cross-attend, the resampler's fixed output size, and errors at the doors."""

import math

import pytest
import torch

from perceiver_lite.blocks import CrossAttentionBlock
from perceiver_lite.perceiver import Perceiver, PerceiverConfig, PerceiverEncoder
from perceiver_lite.relatives.sets import (
    ISAB,
    MAB,
    PMA,
    SAB,
    DeepSets,
    DeepSetsConfig,
    PerceiverResampler,
    ResamplerConfig,
    SetTransformer,
    SetTransformerConfig,
    append_log_count,
    make_counting_sets,
)


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def set_perceiver(channels=4):
    return Perceiver(
        PerceiverConfig(
            adapter="none",
            input_channels=channels,
            num_latents=8,
            latent_dim=32,
            num_blocks=1,
            num_cross_attends=1,
            num_self_attends_per_block=1,
            num_classes=3,
        )
    ).eval()


def test_block_shapes():
    elements, queries = torch.randn(2, 7, 16), torch.randn(2, 3, 16)
    for post_norm in (False, True):
        assert MAB(16, num_heads=4, post_norm=post_norm)(queries, elements)[0].shape == (2, 3, 16)
        assert SAB(16, num_heads=4, post_norm=post_norm)(elements)[0].shape == (2, 7, 16)
        assert ISAB(16, 4, num_heads=2, post_norm=post_norm)(elements).shape == (2, 7, 16)
        assert PMA(16, num_seeds=3, num_heads=2, post_norm=post_norm)(elements).shape == (2, 3, 16)


def test_model_shapes():
    elements, mask = torch.randn(5, 9, 4), torch.ones(5, 9, dtype=torch.bool)
    assert SetTransformer(SetTransformerConfig(num_outputs=3))(elements, mask).shape == (5, 3)
    assert DeepSets(DeepSetsConfig(num_outputs=2))(elements, mask).shape == (5, 2)
    assert append_log_count(elements, mask).shape == (5, 9, 5)


def test_post_norm_mab_is_the_papers_formula():
    block = MAB(8, num_heads=1, post_norm=True).eval()
    queries, inputs = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    mha = block.attention
    q, k, v = mha.to_q(queries), mha.to_k(inputs), mha.to_v(inputs)
    multihead = mha.to_out((q @ k.transpose(1, 2) / math.sqrt(8)).softmax(-1) @ v)
    hidden = block.q_norm(queries + multihead)  # H = LN(X + Multihead(X, Y, Y))
    expected = block.mlp_norm(hidden + block.mlp(hidden))  # LN(H + rFF(H))
    torch.testing.assert_close(block(queries, inputs)[0], expected, atol=1e-5, rtol=1e-5)
    assert not any("kv_norm" in name for name, _ in block.named_parameters())


def test_pre_norm_mab_is_the_course_cross_attend():
    block, course = MAB(16, num_heads=4).eval(), CrossAttentionBlock(16, 16, 4).eval()
    course.load_state_dict(block.state_dict())
    queries, inputs = torch.randn(2, 3, 16), torch.randn(2, 11, 16)
    torch.testing.assert_close(block(queries, inputs)[0], course(queries, inputs)[0])


def test_isab_inner_read_is_the_perceivers_cross_attend():
    isab = ISAB(16, num_inducing=4, num_heads=2).eval()
    encoder = PerceiverEncoder(
        PerceiverConfig(
            adapter="none",
            input_channels=16,
            num_latents=4,
            latent_dim=16,
            num_blocks=1,
            num_cross_attends=1,
            num_self_attends_per_block=0,
            num_cross_heads=2,
        )
    ).eval()
    encoder.cross_attends[0].load_state_dict(isab.read.state_dict())
    elements = torch.randn(3, 20, 16)
    with torch.no_grad():
        encoder.latents.copy_(isab.inducing)
        read = isab.read(isab.inducing.expand(3, -1, -1), elements)[0]
        torch.testing.assert_close(read, encoder(elements)[0], atol=1e-6, rtol=1e-6)


def test_pma_and_perceiver_read_are_permutation_invariant():
    elements = torch.randn(3, 12, 16)
    shuffle = torch.randperm(12)
    pma, perceiver = PMA(16, 2, 4).eval(), set_perceiver(16)
    with torch.no_grad():
        torch.testing.assert_close(pma(elements[:, shuffle]), pma(elements), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(perceiver(elements[:, shuffle]), perceiver(elements), atol=1e-5, rtol=1e-5)
        sab = SAB(16, num_heads=4).eval()
        torch.testing.assert_close(
            sab(elements[:, shuffle])[0], sab(elements)[0][:, shuffle], atol=1e-5, rtol=1e-5
        )
        output, weights = sab(elements, need_weights=True)
        assert weights.shape == (elements.shape[0], 4, elements.shape[1], elements.shape[1])  # (B, h, M, M)


def test_softmax_reads_ignore_duplication_and_sum_reads_do_not():
    sets = torch.randn(4, 10, 4)
    doubled = torch.cat([sets, sets], dim=1)
    pma, perceiver, deepsets = PMA(4, 1, 2).eval(), set_perceiver(), DeepSets(DeepSetsConfig()).eval()
    with torch.no_grad():
        torch.testing.assert_close(pma(doubled), pma(sets), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(perceiver(doubled), perceiver(sets), atol=1e-5, rtol=1e-5)
        summed, summed_twice = deepsets.pooled(sets), deepsets.pooled(doubled)
        torch.testing.assert_close(summed_twice, 2 * summed, atol=1e-5, rtol=1e-5)
        assert (summed_twice - summed).abs().max() > 0.1


def test_masked_padding_changes_nothing():
    elements, mask = torch.randn(2, 6, 4), torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    for model in (SetTransformer(SetTransformerConfig()).eval(), DeepSets(DeepSetsConfig()).eval()):
        with torch.no_grad():
            torch.testing.assert_close(
                model(elements, mask)[1], model(elements[1:, :4])[0], atol=1e-5, rtol=1e-5
            )


def test_counting_sets_hide_the_size_in_the_proportions():
    elements, mask, counts, repeats = make_counting_sets(300, seed=1)
    sizes = mask.sum(1)
    assert elements.shape == (300, 32, 4) and mask.shape == (300, 32) and counts.dtype == torch.int64
    assert torch.equal(counts, elements[..., 0].sum(1).long())
    assert bool((sizes % repeats == 0).all()) and bool((counts % repeats == 0).all())
    assert bool((elements[~mask] == 0).all()) and bool((elements[mask].sum(-1) == 1).all())
    assert set(repeats.tolist()) == {1, 2, 3, 4}
    for a, b in zip(make_counting_sets(5, seed=2), make_counting_sets(5, seed=2)):
        assert torch.equal(a, b)


def test_log_count_channel():
    elements, mask = torch.zeros(2, 5, 3), torch.tensor([[True] * 5, [True] * 2 + [False] * 3])
    torch.testing.assert_close(append_log_count(elements, mask)[:, 0, -1], torch.tensor([5.0, 2.0]).log())
    torch.testing.assert_close(append_log_count(elements)[:, 0, -1], torch.tensor([5.0, 5.0]).log())


def test_resampler_output_shape_does_not_depend_on_the_number_of_frames():
    resampler = PerceiverResampler(ResamplerConfig(num_latents=6)).eval()
    with torch.no_grad():
        shapes = {tuple(resampler(torch.randn(2, frames, 3, 8)).shape) for frames in (1, 4, 16)}
    assert shapes == {(2, 6, 32)}


def test_resampler_mask_and_time_embeddings():
    frames, mask = torch.randn(2, 5, 4, 8), torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    with_time = PerceiverResampler(ResamplerConfig()).eval()
    without = PerceiverResampler(ResamplerConfig(time_embeddings=False)).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            with_time(frames, mask)[1], with_time(frames[1:, :3])[0], atol=1e-5, rtol=1e-5
        )
        torch.testing.assert_close(without(frames.flip(1)), without(frames), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(with_time(frames.flip(1)), with_time(frames), atol=1e-5)


def test_one_layer_resampler_is_the_perceivers_read_of_features_and_latents():
    layer = PerceiverResampler(ResamplerConfig(num_layers=1, num_heads=1, widening_factor=1)).eval()
    encoder = PerceiverEncoder(
        PerceiverConfig(
            adapter="none",
            input_channels=32,
            num_latents=8,
            latent_dim=32,
            num_blocks=1,
            num_cross_attends=1,
            num_self_attends_per_block=0,
        )
    ).eval()
    encoder.cross_attends[0].load_state_dict(layer.layers[0].state_dict())
    frames = torch.randn(2, 3, 4, 8)
    with torch.no_grad():
        encoder.latents.copy_(layer.latents)
        features = (layer.project(frames) + layer.time[:3, None]).flatten(1, 2)
        array = torch.cat([features, layer.latents.expand(2, -1, -1)], dim=1)
        torch.testing.assert_close(layer(frames), encoder(array)[0], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(
    "call, expected",
    [
        (
            lambda: SetTransformer(SetTransformerConfig())(torch.randn(2, 5, 3)),
            r"elements must be \(B, \?, 4\), got \(2, 5, 3\)",
        ),
        (
            lambda: DeepSets(DeepSetsConfig())(torch.randn(2, 5)),
            r"elements must be \(B, \?, 4\), got \(2, 5\)",
        ),
        (
            lambda: DeepSets(DeepSetsConfig())(torch.randn(2, 5, 4), torch.ones(2, 4, dtype=torch.bool)),
            r"mask must be a torch.bool tensor \(B, M\) = \(2, 5\), got torch.bool \(2, 4\)",
        ),
        (
            lambda: PerceiverResampler(ResamplerConfig())(torch.randn(2, 3, 4, 6)),
            r"frames must be \(B, \?, \?, 8\), got \(2, 3, 4, 6\)",
        ),
        (
            lambda: PerceiverResampler(ResamplerConfig(max_frames=4))(torch.randn(1, 5, 2, 8)),
            r"at most max_frames=4 frames, got 5",
        ),
        (lambda: make_counting_sets(0), r"num_sets must be an int ≥ 1, got 0"),
        (lambda: make_counting_sets(4, num_colours=1), r"num_colours must be an int ≥ 2, got 1"),
        (
            lambda: make_counting_sets(4, base_sizes=(5, 2)),
            r"base_sizes must be \(low, high\) with 1 ≤ low ≤ high, got \(5, 2\)",
        ),
    ],
)
def test_bad_input_names_what_was_expected_and_what_came(call, expected):
    with pytest.raises(ValueError, match=expected):
        call()
