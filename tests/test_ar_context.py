"""Notebook 12's counted baseline (interpolated Kneser–Ney) and the context sweep of appendix A6g: the
probabilities sum to one, more context never hurts on repetitive text, every context is scored on the
same bytes, and bad input is named."""

import math

import numpy as np
import pytest
import torch

from perceiver_lite.relatives.ar import kneser_ney_bits
from perceiver_lite.runner import ar_context


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kneser_ney_is_a_distribution_after_any_history(order):
    train = b"the cat sat on the mat; the hat sat on the cat"
    for history in (b"the "[-(order - 1) :] if order > 1 else b"", b"qzx!"[: order - 1]):
        total = sum(2 ** -kneser_ney_bits(train, history + bytes([b]), order)[0].item() for b in range(256))
        assert total == pytest.approx(1.0, abs=1e-9)


def test_kneser_ney_without_training_text_is_uniform():
    assert torch.allclose(kneser_ney_bits(b"", b"abcdef", 3), torch.full((4,), 8.0, dtype=torch.float64))


def test_higher_orders_predict_repetitive_text_better():
    text = b"def f(self, x):\n    return self.g(x)\n" * 50
    means = [kneser_ney_bits(text, text[:400], n).mean().item() for n in (1, 3, 5)]
    assert means[0] > means[1] > means[2]


def test_kneser_ney_names_bad_input():
    with pytest.raises(ValueError, match="train must be bytes"):
        kneser_ney_bits("text", b"abc")
    with pytest.raises(ValueError, match="order"):
        kneser_ney_bits(b"abc", b"abc", 0)


def test_every_context_scores_the_same_bytes():
    data = torch.arange(4096) % 256
    ends = ar_context.window_ends(len(data), 5)
    assert int(ends.min()) >= ar_context.LONGEST and int(ends.max()) == len(data) - 1

    class Oracle(torch.nn.Module):  # predicts the byte after each position perfectly: (x + 1) % 256
        def forward(self, ids):
            return torch.nn.functional.one_hot((ids + 1) % 256, 256).float() * 50

    for context in (16, 64, 1024):
        bits = ar_context.test_bits(Oracle(), data, ends, context, num_latents=8)
        assert bits.shape == (5, 8) and bits.max().item() < 1e-6


def test_a_context_run_trains_and_scores(monkeypatch):
    text = (b"import os\nimport sys\n" * 400)[: 6 * 1024]
    monkeypatch.setattr(
        ar_context, "split_corpora", lambda: {"train": text, "validation": text, "test": text}
    )
    (row,) = ar_context.context_run("perceiver_ar", 0, 64, steps=30, batch_size=4, num_latents=16, width=32)
    assert row["model"] == "perceiver_ar" and row["context"] == 64 and row["steps"] == 30
    assert 0 < row["bits_per_byte"] < 8 and not math.isnan(row["bits_per_byte"])


def test_contexts_beyond_the_test_windows_are_refused(capsys):
    with pytest.raises(SystemExit):
        ar_context.main(["--out", "x.csv", "--contexts", "2048"])
    assert f"contexts must be at most {ar_context.LONGEST}, got 2048" in capsys.readouterr().err


def test_grams_code_the_last_byte_lowest():
    assert ar_context.kneser_ney_bits is kneser_ney_bits
    from perceiver_lite.relatives.ar import _grams

    assert _grams(np.array([1, 2, 3]), 2).tolist() == [1 * 256 + 2, 2 * 256 + 3]
