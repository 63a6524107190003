"""perceiver_lite.course.viewer without a browser: the sources it opens (models, checkpoints, maps), the
frame's shared colour scale, weights-or-scores switch and grid, the decoder's maps, the refusals, and the
widgets' wiring to the update."""

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from conftest import small_image_model
from matplotlib.figure import Figure

from perceiver_lite.course.viewer import (
    attention_viewer,
    centred_scores,
    decoder_attention_maps,
    show_viewer_frame,
    viewer_frame,
    viewer_maps,
)
from perceiver_lite.course.viz import cross_attention_maps
from perceiver_lite.io import DecoderConfig, PerceiverIO, PerceiverIOConfig
from perceiver_lite.perceiver import PerceiverConfig
from perceiver_lite.weights.checkpoint import save

pytestmark = pytest.mark.usefixtures("close_figures")  # tests/conftest.py


@pytest.fixture(scope="module")
def image_model():
    return small_image_model(reads=2)


@pytest.fixture(scope="module")
def opened(image_model):
    return viewer_maps(*image_model)  # (inputs, maps (3, 2, 2, 7, 30))


@pytest.fixture(scope="module")
def io_model():
    torch.manual_seed(1)
    encoder = PerceiverConfig(num_latents=6, latent_dim=16, num_bands=4, num_self_heads=2)
    decoder = DecoderConfig(query_dim=8, latent_dim=16, output_channels=1, num_heads=2)
    return PerceiverIO(PerceiverIOConfig(encoder, decoder, num_queries=5)), torch.randn(2, 40, 1)


def map_panels(fig):
    return [image for ax in fig.axes for image in ax.images if image.get_gid()]


def test_centred_scores_recover_the_scores_up_to_a_constant_per_row():
    scores = 3 * torch.randn(4, 6, 20, generator=torch.Generator().manual_seed(0))
    recovered = centred_scores(scores.softmax(-1))
    np.testing.assert_allclose(recovered, (scores - scores.mean(-1, keepdim=True)).numpy(), atol=1e-4)
    np.testing.assert_allclose(centred_scores((scores + 5).softmax(-1)), recovered, atol=1e-4)
    assert np.isfinite(centred_scores(torch.tensor([[1.0, 0.0]]))).all()  # a zero weight is clipped


def test_opens_a_model_and_its_checkpoint_alike(image_model, opened, tmp_path):
    model, images = image_model
    inputs, maps = opened
    assert inputs is images and maps.shape == (3, 2, 2, 7, 30)
    np.testing.assert_array_equal(maps, cross_attention_maps(model, images).numpy())
    path = save(model, tmp_path / "model.safetensors")
    for source in (path, str(path)):
        np.testing.assert_allclose(viewer_maps(source, images)[1], maps, atol=1e-6)
    given = viewer_maps(torch.tensor(maps), images)  # maps already captured, with their inputs
    np.testing.assert_array_equal(given[1], maps)


def test_grid_shares_one_colour_scale(opened):
    inputs, maps = opened
    fig, caption = viewer_frame(inputs, maps, example=2, cross_attend=1, head=1, grid=True)
    assert isinstance(fig, Figure) and fig.get_suptitle() == caption
    assert caption == "showing example 2, cross-attend 1, head 1, all 7 latents: softmax weights"
    panels = map_panels(fig)
    assert [panel.get_gid() for panel in panels] == [f"latent {n}" for n in range(7)]
    assert {panel.get_clim() for panel in panels} == {(0.0, float(maps[2, 1, 1].max()))}
    np.testing.assert_array_equal(panels[4].get_array().data, maps[2, 1, 1, 4].reshape(6, 5))
    assert len(fig.axes[-1].images) == 0 and fig.axes[-1].get_ylabel().startswith("weights: one scale")


def test_one_latent_keeps_the_heads_scale(opened):
    inputs, maps = opened
    grid, _ = viewer_frame(inputs, maps, cross_attend=1, grid=True)
    one, caption = viewer_frame(inputs, maps, cross_attend=1, query=3)
    assert caption == "showing example 0, cross-attend 1, head 0, latent 3: softmax weights"
    (panel,) = map_panels(one)
    assert panel.get_gid() == "latent 3" and panel.get_clim() == map_panels(grid)[0].get_clim()


def test_scores_switch_draws_centred_log_weights(opened):
    inputs, maps = opened
    fig, caption = viewer_frame(inputs, maps, example=1, head=1, grid=True, scores=True)
    assert caption.endswith("all 7 latents: scores (log-weights centred per latent)")
    panels = map_panels(fig)
    shown = np.stack([panel.get_array().data.ravel() for panel in panels])  # (N, M)
    logs = np.log(maps[1, 0, 1].astype(np.float64))
    np.testing.assert_allclose(shown, logs - logs.mean(-1, keepdims=True), atol=1e-4)
    ((low, high),) = {panel.get_clim() for panel in panels}
    assert low == -high == -np.abs(shown).max()
    assert panels[0].get_cmap().name == "RdBu_r"


def test_sequence_frame(io_model):
    model, signals = io_model
    inputs, maps = viewer_maps(model, signals)
    assert maps.shape == (2, 2, 1, 6, 40)
    fig, caption = viewer_frame(inputs, maps, example=1, cross_attend=1, grid=True)
    assert caption == "showing example 1, cross-attend 1, head 0, all 6 latents: softmax weights"
    (heat,) = map_panels(fig)
    np.testing.assert_array_equal(heat.get_array().data, maps[1, 1, 0])
    assert fig.axes[1].get_xlabel() == "time step" and fig.axes[0].lines  # the signal above the heat map
    fig, caption = viewer_frame(inputs, maps, query=4, scores=True)
    (strip,) = map_panels(fig)
    assert strip.get_array().shape == (1, 40) and strip.get_gid() == "latent 4"


def test_decoder_maps_capture_and_frame(io_model):
    model, signals = io_model
    model.train()
    weights = decoder_attention_maps(model, signals)
    assert weights.shape == (2, 2, 5, 6) and model.training and not weights.requires_grad
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 5))
    with torch.no_grad():
        model.eval()
        latents, _ = model.encoder(*model.input_array(signals))
        direct = model.decoder(model.queries(2), latents, need_weights=True)[1]
        model.train()
    torch.testing.assert_close(weights, direct)
    inputs, maps = viewer_maps(weights)
    assert inputs is None and maps.shape == (2, 1, 2, 5, 6)
    fig, caption = viewer_frame(inputs, maps, example=1, head=1, grid=True, scores=True)
    assert caption == (
        "showing example 1, decoder, head 1, all 5 outputs: scores (log-weights centred per output)"
    )
    (heat,) = map_panels(fig)
    assert heat.get_array().shape == (5, 6) and fig.axes[0].get_xlabel() == "latent"


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m, x, maps: viewer_maps(m), ValueError, r"inputs must be given to draw a Perceiver's maps"),
        (lambda m, x, maps: viewer_maps(3), ValueError, r"source must be a Perceiver.*got int"),
        (lambda m, x, maps: viewer_maps(maps), ValueError, r"decoder's \(B, h, O, N\) without inputs"),
        (lambda m, x, maps: viewer_maps(maps[0], x), ValueError, r"got shape \(2, 2, 7, 30\) with inputs"),
        (lambda m, x, maps: viewer_maps(torch.nn.Linear(2, 2), x), ValueError, r"Perceiver or a PerceiverIO"),
        (lambda m, x, maps: viewer_maps("no/such/file.safetensors", x), FileNotFoundError, "no checkpoint"),
        (lambda m, x, maps: viewer_frame(x, maps, query=7), ValueError, r"query must lie in \[0, 7\)"),
        (lambda m, x, maps: viewer_frame(x, maps, head=True), ValueError, r"head must lie in \[0, 2\)"),
        (lambda m, x, maps: viewer_frame(x, maps[0]), ValueError, r"\(B, reads, h, queries, keys\)"),
        (lambda m, x, maps: viewer_frame(x[:2], maps), ValueError, "inputs must hold the 3 examples"),
        (lambda m, x, maps: viewer_frame(x[:, :4], maps), ValueError, r"H·W = 30 or sequences"),
        (lambda m, x, maps: decoder_attention_maps(m, x), ValueError, "model must be a PerceiverIO"),
        (lambda m, x, maps: attention_viewer(x), ValueError, "maps must be softmax weights"),
        (lambda m, x, maps: attention_viewer(maps, x[:, :4]), ValueError, r"H·W = 30"),
    ],
)
def test_refusals_name_what_was_expected(image_model, opened, call, error, message):
    model, images = image_model
    with pytest.raises(error, match=message):
        call(model, images, opened[1])


def test_update_prints_caption_and_closes_its_figure(opened, capsys):
    inputs, maps = opened
    open_before = len(plt.get_fignums())
    caption = show_viewer_frame(inputs, maps, example=1, cross_attend=1, head=0, query=2, scores=True)
    assert caption == (
        "showing example 1, cross-attend 1, head 0, latent 2: scores (log-weights centred per latent)"
    )
    assert caption in capsys.readouterr().out
    assert len(plt.get_fignums()) == open_before


def controls_of(viewer):
    return {widget.description: widget for row in viewer.children[:2] for widget in row.children}


def test_viewer_controls_drive_the_update(image_model, capsys):
    viewer = attention_viewer(*image_model)
    assert "showing example 0, cross-attend 0, head 0, latent 0: softmax weights" in capsys.readouterr().out
    controls = controls_of(viewer)
    assert list(controls) == ["example", "cross-attend", "head", "show", "every latent at once", "latent"]
    assert controls["example"].max == 2 and controls["latent"].max == 6
    assert not controls["example"].continuous_update and not controls["latent"].continuous_update
    assert list(controls["cross-attend"].options) == [0, 1] and list(controls["head"].options) == [0, 1]
    controls["show"].value = True
    assert "latent 0: scores (log-weights centred per latent)" in capsys.readouterr().out
    controls["every latent at once"].value = True
    assert "all 7 latents: scores" in capsys.readouterr().out and controls["latent"].disabled
    controls["head"].value = 1
    assert "showing example 0, cross-attend 0, head 1, all 7 latents: scores" in capsys.readouterr().out
    controls["every latent at once"].value = False
    controls["latent"].value = 5
    printed = capsys.readouterr().out
    assert "head 1, latent 5: scores" in printed and not controls["latent"].disabled
    assert "attention-viewer" in viewer._dom_classes


def test_viewer_opens_a_checkpoint_and_decoder_maps(image_model, io_model, tmp_path, capsys):
    model, images = image_model
    attention_viewer(save(model, tmp_path / "model.safetensors"), images)
    assert "showing example 0, cross-attend 0, head 0, latent 0" in capsys.readouterr().out
    weights = decoder_attention_maps(*io_model)  # (2, 2, 5, 6)
    controls = controls_of(attention_viewer(weights))
    assert "showing example 0, decoder, head 0, output 0: softmax weights" in capsys.readouterr().out
    assert controls["cross-attend"].disabled and controls["cross-attend"].label == "decoder"
    assert controls["output"].max == 4 and "every output at once" in controls
