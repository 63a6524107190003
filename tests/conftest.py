"""What several test files share: the repository's root, a free local port, and killing the processes a test
started (kernels orphaned by a killed worker or a stopped server). The `slow` marker is declared in
pyproject.toml; `pytest tests -m "not slow"` is the fast subset for day-to-day work (see the README)."""

import os
import signal
import socket
from pathlib import Path

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
