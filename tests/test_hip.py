"""The Hierarchical Perceiver of notebook 14: grouping, shapes, locality, the flat read it becomes with one
group, attention-score counts, the telegraph signals, and the checks at its doors."""

import pytest
import torch

from perceiver_lite.perceiver import Perceiver, PerceiverConfig
from perceiver_lite.relatives.hip import (
    HiP,
    HiPConfig,
    HiPDecoder,
    group,
    hip_attention_scores,
    make_telegraph_signals,
    perceiver_attention_scores,
    ungroup,
)

SMALL = dict(
    input_shape=(64,),
    num_bands=4,
    num_groups=(4, 2, 1),
    num_latents=(2, 2, 4),
    latent_dim=16,
    num_self_heads=2,
    num_classes=3,
)


def test_group_round_trip_and_layout():
    array = torch.randn(3, 20, 5)  # (B, M, C)
    grouped = group(array, 4)
    assert grouped.shape == (12, 5, 5)
    assert torch.equal(ungroup(grouped, 4), array)
    assert torch.equal(grouped[1 * 4 + 2], array[1, 10:15])  # row b·G + g: example b, group g


def test_shapes_through_the_levels():
    model = HiP(HiPConfig(**SMALL)).eval()
    inputs = torch.randn(2, 64, 1)
    last, levels = model.encoder(model.input_array(inputs))
    assert [tuple(h.shape) for h in levels] == [(2, 8, 16), (2, 4, 16), (2, 4, 16)]
    assert torch.equal(last, levels[-1])
    assert model(inputs).shape == (2, 3)


def test_level_one_latents_are_local():
    torch.manual_seed(0)
    model = HiP(HiPConfig(**SMALL)).eval()
    inputs = torch.randn(2, 64, 1)
    edited = inputs.clone()
    edited[:, 16:32] += 1.0  # group 1 of 4
    with torch.no_grad():
        _, before = model.encoder(model.input_array(inputs))
        _, after = model.encoder(model.input_array(edited))
    moved = [
        ((new - old).abs().reshape(2, g, -1).amax(dim=(0, 2)) > 1e-6).nonzero().flatten().tolist()
        for old, new, g in zip(before, after, (4, 2, 1))
    ]
    assert moved == [[1], [0], [0]]


def test_one_group_equals_a_flat_read():
    torch.manual_seed(0)
    flat = Perceiver(
        PerceiverConfig(
            input_shape=(64,),
            num_bands=4,
            num_latents=6,
            latent_dim=16,
            num_blocks=1,
            num_cross_attends=1,
            num_self_heads=2,
            num_classes=3,
        )
    ).eval()
    hip = HiP(
        HiPConfig(
            input_shape=(64,),
            num_bands=4,
            num_groups=(1,),
            num_latents=(6,),
            latent_dim=16,
            num_self_heads=2,
            num_classes=3,
        )
    ).eval()
    level = hip.encoder.levels[0]
    with torch.no_grad():
        level.latents.copy_(flat.encoder.latents)
    level.cross_attend.load_state_dict(flat.encoder.cross_attends[0].state_dict())
    level.tower.load_state_dict(flat.encoder.towers[0].state_dict())
    hip.head.load_state_dict(flat.head.state_dict())
    inputs = torch.randn(3, 64, 1)
    with torch.no_grad():
        torch.testing.assert_close(hip(inputs), flat(inputs))


def test_latents_per_group_weights_shared():
    "Doubling G adds only latents (G·n rows): the cross-attend and tower weights serve every group."
    counts = {}
    for groups in (4, 8):
        model = HiP(HiPConfig(**{**SMALL, "num_groups": (groups, 2, 1)}))
        level = model.encoder.levels[0]
        assert level.latents.shape == (groups * 2, 16)  # (G·n, D)
        counts[groups] = sum(p.numel() for name, p in level.named_parameters() if name != "latents")
    assert counts[4] == counts[8]


def test_attention_score_counts():
    config = HiPConfig(**SMALL)
    # level 1: 4·2 latents read 16 rows each (128), towers 2 layers · 4 groups · 2² (32);
    # level 2: 2·2 latents read 4 rows each (16), towers 2 · 2 · 2² (16); level 3: 4 latents read 4 rows (16),
    # 2 · 4² (32)
    assert hip_attention_scores(config, 64) == 128 + 32 + 16 + 16 + 16 + 32
    flat = PerceiverConfig(input_shape=(64,), num_latents=8, num_blocks=3, num_cross_attends=1)
    assert perceiver_attention_scores(flat, 64) == 8 * 64 + 3 * 2 * 8**2


def test_telegraph_signals():
    signals, labels = make_telegraph_signals(40, 256, run_lengths=(4, 32), noise=0.0, seed=3)
    assert signals.shape == (40, 256, 1) and signals.dtype == torch.float32 and labels.dtype == torch.int64
    assert signals.abs().eq(1).all()
    again, _ = make_telegraph_signals(40, 256, run_lengths=(4, 32), noise=0.0, seed=3)
    assert torch.equal(signals, again)
    flips = (signals[:, 1:] != signals[:, :-1]).sum(dim=(1, 2))
    assert (flips <= 256 // torch.tensor([4, 32])[labels]).all()


def test_telegraph_signals_hold_the_same_values_in_every_class():
    "Half the samples at +1 in every signal: sorted (order forgotten), all noise-free signals are equal."
    signals, labels = make_telegraph_signals(200, 128, run_lengths=(2, 8, 64), noise=0.0, seed=5)
    assert set(labels.tolist()) == {0, 1, 2}
    assert signals.gt(0).sum(dim=(1, 2)).eq(64).all()
    values = signals.sort(dim=1).values
    assert torch.equal(values, values[:1].expand_as(values))


def test_telegraph_signals_runs_have_the_class_length():
    "Read round the circle from a run's start, every run is r equal samples."
    signals, labels = make_telegraph_signals(30, 64, run_lengths=(4, 16), noise=0.0, seed=1)
    for signal, label in zip(signals[..., 0], labels):
        r = (4, 16)[label]
        starts = (signal != signal.roll(1)).nonzero().flatten()  # changes of sign, round the circle
        start = int(starts[0]) if len(starts) else 0
        runs = signal.roll(-start).reshape(-1, r)  # (M/r, r) if every run is whole
        assert (runs == runs[:, :1]).all()


def test_telegraph_noise_has_the_asked_spread():
    noisy, _ = make_telegraph_signals(50, 512, noise=0.5, seed=2, run_lengths=(4, 16))
    clean, _ = make_telegraph_signals(50, 512, noise=0.0, seed=2, run_lengths=(4, 16))
    assert abs((noisy - clean).std().item() - 0.5) < 0.01


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(num_groups=(4, 3, 1)), "each level's num_groups must divide the one before"),
        (dict(num_groups=(4, 2)), "num_groups and num_latents must be equally long"),
        (dict(num_latents=(2, 0, 4)), "num_groups and num_latents must be equally long tuples of ints ≥ 1"),
        (dict(latent_dim=15), "latent_dim (15) must be divisible by num_self_heads"),
        (dict(gelu="relu"), "gelu must be 'exact' or 'tanh', got 'relu'"),
        (dict(input_shape=(8, 8)), "input_shape and max_resolution must be (M,)"),
    ],
)
def test_bad_configs_raise(bad, words):
    with pytest.raises(ValueError) as error:
        HiPConfig(**{**SMALL, **bad})
    assert words in str(error.value)


def test_bad_inputs_raise_naming_expected_and_got():
    model = HiP(HiPConfig(**SMALL))
    with pytest.raises(ValueError, match=r"divisible by num_groups\[0\] = 4, got M = 62"):
        model(torch.randn(2, 62, 1))
    with pytest.raises(ValueError, match=r"inputs must be \(B, \?, 1\), got \(2, 64, 2\)"):
        model(torch.randn(2, 64, 2))
    with pytest.raises(ValueError, match="must be finite"):
        model(torch.full((1, 64, 1), float("nan")))
    with pytest.raises(TypeError):
        model([[0.0] * 64])


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(count=0), "count and length must be ints ≥ 1, got count=0"),
        (dict(count=4, run_lengths=(0, 4)), "run_lengths must be ints ≥ 1, got (0, 4)"),
        (dict(count=4, noise=-0.1), "noise must be ≥ 0, got -0.1"),
        (dict(count=4, length=100), "length must be a multiple of 2·r for every run length r"),
        (dict(count=4, length=64, run_lengths=(4, 64)), "got length=64 and run_lengths=(4, 64)"),
    ],
)
def test_bad_signal_arguments_raise(bad, words):
    with pytest.raises(ValueError) as error:
        make_telegraph_signals(**bad)
    assert words in str(error.value)


def test_decoder_returns_one_output_per_input():
    torch.manual_seed(0)
    model = HiP(HiPConfig(**SMALL)).eval()
    decoder = HiPDecoder(model.config, out_channels=2).eval()
    array = model.input_array(torch.randn(3, 64, 1))
    _, levels = model.encoder(array)
    assert decoder(array, levels).shape == (3, 64, 2)


def test_decoder_needs_latents_that_split_into_the_groups_below():
    with pytest.raises(
        ValueError, match=r"must split into the level below's groups \(4, 2, 1\), got G·n = \(8, 2, 4\)"
    ):
        HiPDecoder(HiPConfig(**{**SMALL, "num_latents": (2, 1, 4)}))
