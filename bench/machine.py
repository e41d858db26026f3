"""A description of the machine and library versions, for the results tables."""

from __future__ import annotations

import os
import platform
from importlib import metadata

__all__ = ["describe_machine"]

_LIBS = ["learnloop", "flaml", "xgboost", "lightgbm", "optuna", "scikit-learn", "numpy", "pandas"]


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, or what platform knows."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def ram_gib() -> float | None:
    """Total RAM in GiB from /proc/meminfo, or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) / 1024**2
    except (OSError, ValueError, IndexError):
        return None


def describe_machine() -> list[str]:
    """Markdown bullet lines: CPU, cores, RAM, OS, Python and library versions."""
    cpu = cpu_name()
    gib = ram_gib()
    ram = "?" if gib is None else f"{gib:.1f} GiB"
    versions = []
    for lib in _LIBS:
        for dist in (lib, f"{lib}-cpu"):
            try:
                versions.append(f"{lib} {metadata.version(dist)}")
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            versions.append(f"{lib} (not installed)")
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores (shared with other work while this ran)",
        f"- RAM: {ram}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}",
        f"- {', '.join(versions)}",
    ]
