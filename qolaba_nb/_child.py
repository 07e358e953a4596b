"""``python -m qolaba_nb._child PARENT_PID COMMAND...``: run COMMAND, and end it with its parent.

``qolaba-nb lab`` starts JupyterLab through this wrapper. On Linux the wrapper asks the kernel
for a parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGTERM)``), which survives ``execv``, so
JupyterLab receives SIGTERM, and shuts its kernels down, even when ``qolaba-nb`` itself is
killed with SIGKILL and has no chance to clean up. If the parent is already gone by the time
the signal is armed, the command is not started at all.

A wrapper process rather than ``Popen(preexec_fn=...)``: ``qolaba-nb lab`` has the simulator's
thread running when it starts JupyterLab, and ``preexec_fn`` is unsafe in a threaded parent.
Elsewhere than on Linux the wrapper only execs the command.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def arm_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent thread ends. False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m qolaba_nb._child PARENT_PID COMMAND...", file=sys.stderr)
        return 2
    parent, command = int(argv[0]), argv[1:]
    arm_parent_death_signal()
    if os.getppid() != parent:  # the parent died before the signal was armed
        return 1
    os.execv(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
