"""What a reader steps through stays small: one default forward executes few distinct package lines."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_default_forwards_execute_few_package_lines():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "forward_trace.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    counts = dict(re.findall(r"^(\w+)\(.*?forward: (\d+) distinct package lines", result.stdout, flags=re.M))
    assert set(counts) == {"Perceiver", "PerceiverIO"}, result.stdout
    assert int(counts["Perceiver"]) <= 70, result.stdout
    assert int(counts["PerceiverIO"]) <= 90, result.stdout
