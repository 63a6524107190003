"""Print the largest differences between perceiver_lite and `transformers`' Perceiver port.

Builds the same small random reference models as tests/test_reference_equivalence.py (the encoder),
tests/test_io_equivalence.py (whole models, padding masks) and tests/test_pretrained.py (every
`PerceiverFor…` class), converts them, and prints max |ours − reference| on the written-out attention
path (`fused=False`) and on the fast path, beside the largest reference value. The tests assert these
bounds; this prints the numbers they bound. Nothing is downloaded.

    PYTHONPATH=. python tools/equivalence_report.py"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_io_equivalence as whole  # noqa: E402
import test_pretrained as classes  # noqa: E402
import test_reference_equivalence as encoder  # noqa: E402

from perceiver_lite.weights.convert import from_transformers  # noqa: E402


def largest(got, expected):
    return (got - expected).abs().max().item()


def main():
    print(f"{'model':<34} {'mask':<8} {'explicit':>10} {'fused':>10} {'max |ref|':>10}")
    for settings, name in zip(encoder.SETTINGS, ["small", "wide-mlp", "qk-v-channels"]):
        diffs = []
        for fused in (False, True):
            reference, ours = encoder.reference_and_ours(settings, fused)
            inputs = torch.randn(3, 50, settings["d_model"], generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                expected, got = reference(inputs=inputs).last_hidden_state, ours(inputs)[0]
            diffs.append(largest(got, expected))
        print(
            f"{'encoder latents, ' + name:<34} {'none':<8} {diffs[0]:10.2e} {diffs[1]:10.2e} "
            f"{expected.abs().max().item():10.2f}"
        )
    for name, (build, _) in whole.CASES.items():
        reference, inputs, mask = build()
        for label, used in (("none", None), ("padding", mask)):
            expected = whole.logits(reference, inputs, used)
            with torch.no_grad():
                diffs = [
                    largest(from_transformers(reference, fused=fused)(inputs, mask=used), expected)
                    for fused in (False, True)
                ]
            print(
                f"{name:<34} {label:<8} {diffs[0]:10.2e} {diffs[1]:10.2e} {expected.abs().max().item():10.2f}"
            )
    print(f"\n{'class (tests/test_pretrained.py)':<46} {'explicit':>10} {'fused':>10} {'max |ref|':>10}")
    for name in classes.CASES:
        reference, inputs = classes.reference(name), classes.CASES[name][1]()
        expected = classes.reference_outputs(reference, inputs)
        diffs = [
            largest(classes.our_outputs(from_transformers(reference, fused=fused), inputs), expected)
            for fused in (False, True)
        ]
        print(f"{name:<46} {diffs[0]:10.2e} {diffs[1]:10.2e} {expected.abs().max().item():10.2f}")


if __name__ == "__main__":
    main()
