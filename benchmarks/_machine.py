"""Describe the machine a benchmark ran on (they are shared and noisy: compare ratios of one run)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from typing import Any


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.system(),
    }


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Stop a server a benchmark started: SIGTERM, then SIGKILL if it has not exited after `timeout` s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (for a server a benchmark or test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
