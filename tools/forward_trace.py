"""Count the distinct package lines one forward pass executes: what a reader steps through.

Traces a training-mode forward of the default `Perceiver(PerceiverConfig())` and of a default
`PerceiverIO(PerceiverIOConfig())` (its queries given: the default learns none), in a fresh process, and
prints for each the number of distinct lines of `perceiver_lite/` that ran, the files they are in, and (with
--lines) the lines themselves. The first forward is traced, so building the cached position features is
counted too.

    python tools/forward_trace.py [--lines]
"""

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PACKAGE = str(ROOT / "perceiver_lite")

from perceiver_lite import Perceiver, PerceiverConfig, PerceiverIO, PerceiverIOConfig  # noqa: E402


def trace(call):
    "The set of (file, line number) of the package that `call()` executes."
    seen = set()

    def local(frame, event, arg):
        if event == "line":
            seen.add((frame.f_code.co_filename, frame.f_lineno))
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename.startswith(PACKAGE) else None

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return seen


def report(name, seen, show):
    by_file = defaultdict(list)
    for filename, number in sorted(seen):
        by_file[Path(filename).name].append(number)
    files = ", ".join(f"{file} ({len(numbers)})" for file, numbers in by_file.items())
    print(f"{name}: {len(seen)} distinct package lines in {len(by_file)} files: {files}")
    if show:
        for filename, number in sorted(seen):
            print(
                f"  {Path(filename).name}:{number}: "
                f"{Path(filename).read_text().splitlines()[number - 1].strip()}"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", action="store_true", help="print every traced line")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    perceiver = Perceiver(PerceiverConfig()).train()
    inputs = torch.randn(2, 40, 1)
    report("Perceiver(PerceiverConfig()) forward", trace(lambda: perceiver(inputs)), args.lines)
    io_model = PerceiverIO(PerceiverIOConfig()).train()
    queries = torch.randn(
        2, 8, io_model.config.decoder.query_dim
    )  # (B, O, E): the default has no learned queries
    report("PerceiverIO(PerceiverIOConfig()) forward", trace(lambda: io_model(inputs, queries)), args.lines)


if __name__ == "__main__":
    main()
