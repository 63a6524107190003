"""What several test files share: the repository's root, a free local port, killing the processes a test
started (kernels orphaned by a killed worker or a stopped server), and the small models and configs that
more than one file builds. The `slow` marker is declared in
pyproject.toml; `pytest tests -m "not slow"` is the fast subset for day-to-day work (see the README)."""

import os
import signal
import socket
from pathlib import Path

import pytest
import torch

from perceiver_lite.perceiver import Perceiver, PerceiverConfig
from perceiver_lite.relatives.autoencoder import AutoencoderModalities

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    "A TCP port on 127.0.0.1 that nothing listens on now."
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def kill_leftovers(marker):
    """SIGKILL processes whose command line names `marker` (a temporary folder only this test's processes
    name)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def small_image_model(reads):
    """A seeded Perceiver over 6×5 one-channel images whose `reads` blocks each cross-attend with two heads,
    and three images for it: the model whose attention maps the viz and viewer tests draw."""
    torch.manual_seed(0)
    config = PerceiverConfig(
        input_channels=1,
        input_shape=(6, 5),
        num_bands=4,
        num_latents=7,
        latent_dim=16,
        num_blocks=reads,
        num_self_attends_per_block=1,
        num_cross_attends=reads,
        num_cross_heads=2,
        qk_channels=8,
        num_self_heads=2,
    )
    return Perceiver(config), torch.randn(3, 6, 5, 1)


SMALL_MODALITIES = AutoencoderModalities(  # the multimodal autoencoder's inputs, small
    num_frames=2,
    image_size=8,
    image_bands=2,
    output_shape=(2, 8, 8),
    audio_samples=64,
    samples_per_patch=8,
    audio_bands=3,
    num_labels=5,
    label_query_channels=6,
)
SMALL_PORT = dict(  # a small `transformers.PerceiverConfig`'s settings, for the converter's tests
    num_latents=8,
    d_latents=32,
    d_model=32,
    num_blocks=2,
    num_self_attends_per_block=2,
    num_self_attention_heads=4,
    num_cross_attention_heads=1,
    max_position_embeddings=40,
    num_labels=5,
)


@pytest.fixture
def close_figures():
    "Close every matplotlib figure a test opened; the plotting tests use it for all their tests."
    yield
    import matplotlib.pyplot as plt  # only the tests that draw import matplotlib

    plt.close("all")
