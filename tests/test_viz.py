"""perceiver_lite.course.viz beyond the notebook: captured maps and headless plots (the viewer of notebook
10b has tests/test_viewer.py)."""

import subprocess
import sys

import matplotlib

matplotlib.use("agg")

import pytest
import torch
from conftest import small_image_model
from matplotlib.figure import Figure

from perceiver_lite.course.viz import (
    cross_attention_maps,
    plot_decoder_attention,
    plot_image_attention,
    plot_score_maps,
    plot_sequence_attention,
)
from perceiver_lite.perceiver import Perceiver, PerceiverConfig

pytestmark = pytest.mark.usefixtures("close_figures")  # tests/conftest.py


@pytest.fixture(scope="module")
def image_model():
    return small_image_model(reads=3)


@pytest.fixture(scope="module")
def image_maps(image_model):
    model, images = image_model
    return cross_attention_maps(model, images)


def test_maps_shape_distribution_and_mode(image_model):
    model, images = image_model
    model.train()
    maps = cross_attention_maps(model, images)
    assert maps.shape == (3, 3, 2, 7, 30)  # (B, cross-attends, h, N, H·W)
    assert model.training and not maps.requires_grad
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 3, 2, 7))
    model.eval()
    cross_attention_maps(model, images)
    assert not model.training
    model.train()


def test_maps_match_the_model_and_leave_the_forward_alone(image_model):
    model, images = image_model
    model.eval()
    with torch.no_grad():
        before = model(images)
        maps = cross_attention_maps(model, images)
        after = model(images)
        direct = model.encoder(*model.input_array(images), need_weights=True)[1]
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    torch.testing.assert_close(maps, torch.stack(direct, dim=1))
    model.train()


def test_maps_reject_models_without_an_encoder():
    with pytest.raises(ValueError, match="must be a Perceiver or a PerceiverIO, got Linear"):
        cross_attention_maps(torch.nn.Linear(3, 3), torch.randn(2, 3))


def test_model_does_not_import_viz():
    code = (
        "import sys, perceiver_lite, perceiver_lite.perceiver; "
        "assert 'perceiver_lite.course.viz' not in sys.modules; assert 'ipywidgets' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_image_figure_layout(image_model, image_maps):
    _, images = image_model
    fig = plot_image_attention(images[0], image_maps[0], latents=(0, 6))
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 3 * 2 * (2 + 2)  # (cross-attend, head) rows × (image, 2 latents, mean)
    assert len(fig.axes) == len(panels) + 1  # one colour bar for the whole figure
    assert panels[0].get_title() == "cross-attend 0, head 0" and panels[2].get_title() == "latent 6"
    assert "scaled to its maximum" in fig.get_suptitle()
    fig = plot_image_attention(torch.rand(6, 5, 3), image_maps[1], latents=[3], heads=[1], title="digit 3")
    assert len(fig.axes) == 3 * 1 * 3 + 1 and fig.get_suptitle() == "digit 3"


def test_score_maps_are_the_log_weights_scaled_per_panel(image_maps):
    weights = image_maps[0, 1, 0]  # (N, M) of one cross-attend and head
    fig = plot_score_maps(weights, 6, 5, latents=[2, 4], columns=2)
    shown = torch.tensor(fig.axes[1].images[0].get_array().data)
    scores = weights[4].log().reshape(6, 5).double()
    torch.testing.assert_close(
        shown.double(), (scores - scores.min()) / (scores.max() - scores.min()), atol=1e-6, rtol=1e-5
    )
    assert (
        fig.axes[1].get_title() == "latent 4" and not fig.axes[1].images[0].get_alpha()
    )  # nothing underneath
    with pytest.raises(ValueError, match=r"latents must lie in \[0, 7\)"):
        plot_score_maps(weights, 6, 5, latents=[7])


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda maps: plot_image_attention(torch.rand(5, 5), maps[0]), r"M = 25"),
        (lambda maps: plot_image_attention(torch.rand(6, 5), maps), r"\(cross-attends, h, N, M\)"),
        (
            lambda maps: plot_image_attention(torch.rand(6, 5), maps[0], latents=[7]),
            r"latents must lie in \[0, 7\)",
        ),
        (lambda maps: plot_image_attention(torch.rand(6, 5, 2), maps[0]), "image must be"),
        (lambda maps: plot_sequence_attention(torch.rand(29), maps[0]), r"T = 29"),
        (lambda maps: plot_decoder_attention(maps[0, 0]), r"\(B, h, O, N\)"),
        (lambda maps: plot_decoder_attention(maps[:, 0], example=3), r"example must lie in \[0, 3\)"),
    ],
)
def test_bad_arguments(image_maps, call, message):
    with pytest.raises(ValueError, match=message):
        call(image_maps)


def test_sequence_figure():
    torch.manual_seed(1)
    model = Perceiver(PerceiverConfig(num_latents=5, latent_dim=16, num_bands=4, num_self_heads=2))
    signals = torch.randn(2, 40, 1)
    maps = cross_attention_maps(model, signals)
    assert maps.shape == (2, 2, 1, 5, 40)
    fig = plot_sequence_attention(signals[0], maps[0])
    assert len(fig.axes) == 1 + 2  # the signal, then one heat map per (cross-attend, head)
    assert (
        plot_sequence_attention(signals[0, :, 0].numpy(), maps[0].numpy(), heads=[0]).axes[-1].get_xlabel()
        == "time step"
    )


def test_decoder_figure():
    weights = torch.rand(2, 3, 4, 6).softmax(-1)  # (B, h, O, N)
    fig = plot_decoder_attention(weights, example=1, output_names="abcd")
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 3 and images[0].get_xlabel() == "latent"
    assert [t.get_text() for t in images[0].get_yticklabels()] == list("abcd")
    torch.testing.assert_close(
        torch.tensor(images[2].images[0].get_array().data).double(), weights[1, 2].double()
    )
