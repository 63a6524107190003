"""The audio-video clips and point clouds of notebooks 08 and 09, and the models that read them."""

import pytest
import torch

from perceiver_lite.perceiver import Perceiver, PerceiverConfig
from perceiver_lite.tasks.multimodal import (
    MultimodalAdapter,
    MultimodalConfig,
    MultimodalPerceiver,
    make_av_clips,
    patchify,
)
from perceiver_lite.tasks.points import (
    POINT_SHAPES,
    PointNet,
    PointNetConfig,
    make_point_clouds,
    random_rotations,
)


def test_av_clips_deterministic_shapes_and_balanced():
    clips = make_av_clips(30, seed=5)
    again = make_av_clips(30, seed=5)
    assert all(torch.equal(clips[k], again[k]) for k in clips)
    assert not torch.equal(clips["video"], make_av_clips(30, seed=6)["video"])
    assert clips["video"].shape == (30, 8, 12, 12) and clips["video"].dtype == torch.float32
    assert clips["audio"].shape == (30, 256) and clips["audio"].dtype == torch.float32
    assert clips["labels"].dtype == torch.int64
    assert clips["labels"].bincount(minlength=6).tolist() == [5] * 6
    other = make_av_clips(9, num_frames=4, size=8, audio_length=64, num_shapes=4, num_pitches=3, noise=0.0)
    assert other["video"].shape == (9, 4, 8, 8) and other["audio"].shape == (9, 64)
    assert int(other["labels"].max()) < 12 and set(other["video"].unique().tolist()) <= {0.0, 1.0}


def test_av_clips_class_is_shape_and_pitch():
    "Without noise, two clips of the same shape show the same number of lit pixels in every frame."
    clips = make_av_clips(60, noise=0.0, num_pitches=2)
    lit = clips["video"].sum(dim=(2, 3))  # (n, T)
    for shape in range(3):
        chosen = clips["labels"] // 2 == shape
        assert (lit[chosen] == lit[chosen][0, 0]).all()


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(num_clips=0), "num_clips must be an int ≥ 1, got 0"),
        (dict(size=3), "size must be an int ≥ 4, got 3"),
        (dict(num_shapes=5), "num_shapes must be ≤ 4"),
        (dict(num_pitches=0), "num_pitches must be an int ≥ 1, got 0"),
        (dict(noise=-1.0), "noise must be finite and ≥ 0, got -1.0"),
    ],
)
def test_av_clips_bad_input(bad, words):
    with pytest.raises(ValueError, match=words):
        make_av_clips(**{"num_clips": 4, **bad})


def test_point_clouds_deterministic_shapes_and_balanced():
    points, labels = make_point_clouds(24, 32, seed=2)
    again, same = make_point_clouds(24, 32, seed=2)
    assert torch.equal(points, again) and torch.equal(labels, same)
    assert not torch.equal(points, make_point_clouds(24, 32, seed=3)[0])
    assert points.shape == (24, 32, 3) and points.dtype == torch.float32 and labels.dtype == torch.int64
    assert labels.bincount(minlength=len(POINT_SHAPES)).tolist() == [4] * len(POINT_SHAPES)
    clean, _ = make_point_clouds(30, 64, noise=0.0, scale_range=(1.0, 1.0))
    assert clean.norm(dim=-1).max() <= 1 + 1e-5
    _, labels = make_point_clouds(10, 8, shapes=("torus", "cube"))
    assert labels.bincount().tolist() == [5, 5]


def test_random_rotations_are_rotations():
    rotations = random_rotations(50, torch.Generator().manual_seed(0))
    torch.testing.assert_close(rotations @ rotations.transpose(1, 2), torch.eye(3).expand(50, 3, 3))
    torch.testing.assert_close(torch.linalg.det(rotations), torch.ones(50))


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(num_points=-5), "num_points must be an int ≥ 1, got -5"),
        (dict(num_clouds=0), "num_clouds must be an int ≥ 1, got 0"),
        (dict(shapes=("sphere", "blob")), r"shapes must be names among \('sphere'.*got \('sphere', 'blob'\)"),
        (dict(shapes=()), r"got \(\)"),
        (dict(scale_range=(-1.0, 1.0)), r"0 < low ≤ high, finite, got \(-1.0, 1.0\)"),
        (dict(noise=-0.1), "noise must be finite and ≥ 0, got -0.1"),
    ],
)
def test_point_clouds_bad_input(bad, words):
    with pytest.raises(ValueError, match=words):
        make_point_clouds(**{"num_clouds": 4, **bad})


def test_point_models_ignore_the_order_of_points():
    torch.manual_seed(0)
    points, _ = make_point_clouds(4, 64)
    shuffled = points[:, torch.randperm(64)]
    perceiver = Perceiver(
        PerceiverConfig(
            adapter="points", input_channels=3, num_bands=6, num_latents=8, latent_dim=32, num_classes=6
        )
    ).eval()
    with torch.no_grad():
        torch.testing.assert_close(perceiver(shuffled), perceiver(points), atol=1e-5, rtol=1e-5)
        pointnet = PointNet(PointNetConfig(num_classes=6, width=16))
        torch.testing.assert_close(pointnet(shuffled), pointnet(points))


def test_patchify_and_multimodal_adapter():
    clips = make_av_clips(3)
    video, audio = patchify(clips["video"], (1, 4, 4)), patchify(clips["audio"], (16,))
    assert video.shape == (3, 8, 3, 3, 16) and audio.shape == (3, 16, 16)
    torch.testing.assert_close(video[2, 7, 1, 2].reshape(4, 4), clips["video"][2, 7, 4:8, 8:12])
    with pytest.raises(ValueError, match=r"grid \(256,\), got \(10,\)"):
        patchify(clips["audio"], (10,))
    adapter = MultimodalAdapter(
        {
            "video": PerceiverConfig(input_channels=16, input_shape=(8, 3, 3), num_bands=4),
            "audio": PerceiverConfig(input_channels=16, input_shape=(16,), num_bands=8),
        }
    )
    assert adapter.channels == 45
    array = adapter({"audio": audio, "video": video})
    assert array.shape == (3, 88, 45)
    torch.testing.assert_close(array[:, :16], adapter({"audio": audio}))  # modalities in name order
    model = MultimodalPerceiver(
        MultimodalConfig(perceiver=PerceiverConfig(adapter="none", input_channels=45, num_classes=6))
    )
    assert model({"video": video}).shape == (3, 6) and model.adapter.channels == model.config.channels == 45
    with pytest.raises(ValueError, match="input_channels 45, got 'none' and 40"):
        MultimodalConfig(perceiver=PerceiverConfig(adapter="none", input_channels=40))
    with pytest.raises(ValueError, match="modalities must map names to 'fourier' or 'none' PerceiverConfigs"):
        MultimodalConfig(modalities={})


def test_modality_embedding_ablated():
    "Without the embedding the padding is zeros, the same for every modality, and never trained."
    clips = make_av_clips(3)
    video, audio = patchify(clips["video"], (1, 4, 4)), patchify(clips["audio"], (16,))
    torch.manual_seed(0)
    learned = MultimodalAdapter(MultimodalConfig().modalities)
    ablated = MultimodalAdapter(MultimodalConfig().modalities, modality_embedding=False)
    array = ablated({"video": video, "audio": audio})  # (3, 88, 45): audio's 16 elements, then video's 72
    assert array.shape == (3, 88, 45) and (array[:, :16, 33:] == 0).all() and (array[:, 16:, 43:] == 0).all()
    assert not any(p.requires_grad for p in ablated.padding.values())
    assert all(p.requires_grad for p in learned.padding.values())
    assert not (learned({"audio": audio})[:, :, 33:] == 0).all()
    config = MultimodalConfig(modality_embedding=False)
    model = MultimodalPerceiver(config)
    model({"video": video, "audio": audio}).sum().backward()
    assert all(p.grad is None for p in model.adapter.padding.values())
    with pytest.raises(TypeError, match="modality_embedding must be a bool, got 1"):
        MultimodalConfig(modality_embedding=1)


def test_modalities_without_position_features():
    "Adapter 'none': each element is its own channels, `(B, M_m, C_m)`, then the padding."
    clips = make_av_clips(2)
    flat = {
        "video": patchify(clips["video"], (1, 4, 4)).flatten(1, -2),  # (2, 72, 16)
        "audio": patchify(clips["audio"], (16,)),  # (2, 16, 16)
    }
    unplaced = {name: PerceiverConfig(adapter="none", input_channels=16) for name in flat}
    adapter = MultimodalAdapter(unplaced)
    array = adapter(flat)
    assert adapter.channels == 18 and array.shape == (2, 88, 18)
    torch.testing.assert_close(array[:, 16:, :16], flat["video"])
    perceiver = PerceiverConfig(adapter="none", input_channels=18, num_classes=6)
    assert MultimodalPerceiver(MultimodalConfig(unplaced, perceiver))(flat).shape == (2, 6)
    with pytest.raises(ValueError, match="'fourier' or 'none' PerceiverConfigs"):
        MultimodalAdapter({"points": PerceiverConfig(adapter="points", input_channels=3)})


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (torch.randn(2, 10, 4), ValueError, r"points must be \(B, \?, 3\), got \(2, 10, 4\)"),
        (torch.randn(10, 3), ValueError, r"points must be \(B, \?, 3\), got \(10, 3\)"),
        (torch.randn(2, 0, 3), ValueError, "at least one example"),
        (
            torch.randn(2, 10, 3, dtype=torch.float64),
            ValueError,
            "must be torch.float32 like the model's weights",
        ),
        (torch.full((2, 10, 3), float("nan")), ValueError, "points must be finite"),
        ([[0.0, 0.0, 0.0]], TypeError, r"points must be a torch.Tensor \(B, \?, 3\), got list"),
    ],
)
def test_pointnet_checks_its_input_at_the_door(bad, error, words):
    with pytest.raises(error, match=words):
        PointNet(PointNetConfig(width=8))(bad)


def _bad_modalities():
    video, audio = torch.randn(2, 8, 3, 3, 16), torch.randn(2, 16, 16)
    nan_audio = audio.clone()
    nan_audio[1, 3, 5] = float("nan")
    return [
        ({"video": audio}, ValueError, r"inputs\['video'\] must be \(B, \?, \?, \?, 16\), got \(2, 16, 16\)"),
        (
            {"audio": torch.randn(2, 16, 12)},
            ValueError,
            r"inputs\['audio'\] must be \(B, \?, 16\), got \(2, 16, 12\)",
        ),
        (
            {"video": video, "audio": audio.tolist()},
            TypeError,
            r"inputs\['audio'\] must be a torch.Tensor \(B, \?, 16\), got list",
        ),
        ({"video": video, "audio": nan_audio}, ValueError, r"inputs\['audio'\] must be finite"),
        ({"audio": audio.double()}, ValueError, r"inputs\['audio'\] must be torch.float32"),
        (
            {"video": video, "audio": audio[:1]},
            ValueError,
            r"same B examples, got \{'video': 2, 'audio': 1\}",
        ),
        ({"sound": audio}, ValueError, r"keys among \('audio', 'video'\), got \('sound',\)"),
        ({}, ValueError, r"non-empty dict .* got \(\)"),
        (audio, TypeError, r"inputs must be a dict of modalities \('audio', 'video'\), got Tensor"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_modalities())))
def test_multimodal_perceiver_checks_each_modality_at_the_door(case):
    bad, error, words = _bad_modalities()[case]
    model = MultimodalPerceiver(MultimodalConfig())
    with pytest.raises(error, match=words):
        model(bad)


def test_multimodal_perceiver_accepts_other_grid_sizes():
    "Only the channels are fixed: a modality's grid may have another size, as M is free."
    model = MultimodalPerceiver(MultimodalConfig())
    assert model({"video": torch.randn(2, 4, 3, 3, 16), "audio": torch.randn(2, 8, 16)}).shape == (2, 6)
