"""The simulator in a process of its own, so that its work does not share the GIL with the
client being measured (in a thread it would: every byte parsed would slow the server)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import NamedTuple


class SimProcess(NamedTuple):
    base_url: str
    api_key: str


@contextlib.contextmanager
def simulator_process(*args: str) -> Iterator[SimProcess]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qolaba_nb.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://\S+) \(key: (\S+)\)", line)
        if not match:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        yield SimProcess(match.group(1), match.group(2))
    finally:
        proc.terminate()
        proc.wait(10)
