"""What the kernel says about the processes under test: resident memory and CPU time.

Read straight from /proc (Linux only), so the benchmark needs no extra package
and measures the uvicorn worker processes themselves, not their supervisor.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    text = (PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid`."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (OSError, ValueError, IndexError):
            continue  # gone while we looked
        if parent == pid:
            found.append(int(entry.name))
    return sorted(found)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    tree, frontier = [pid], [pid]
    while frontier:
        kids = [kid for parent in frontier for kid in children(parent)]
        tree.extend(kids)
        frontier = kids
    return tree


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def uvicorn_workers(server_pid: int) -> list[int]:
    """The processes that serve requests: with one worker uvicorn serves in-process,
    with more it spawns one child per worker (and maybe a resource tracker, which does not)."""
    spawned = [pid for pid in children(server_pid) if "spawn_main" in command_line(pid)]
    return spawned or [server_pid]


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (VmRSS), 0 if it is gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used by `pids`, including their reaped children's."""
    total_ticks = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of stat; 11-14 after the name.
        total_ticks += sum(int(value) for value in fields[11:15])
    return total_ticks / CLOCK_TICKS


def postmaster_pid(data_directory: Path) -> int:
    """The PostgreSQL server's main process, from its pid file."""
    return int((data_directory / "postmaster.pid").read_text().split()[0])


class CpuWatch:
    """CPU used by named groups of processes over an interval, as a share of one core."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self._groups = groups
        self._before: dict[str, float] = {}
        self._started = 0.0

    def start(self) -> None:
        self._before = {name: cpu_seconds(pids()) for name, pids in self._groups.items()}
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Each group's CPU seconds over wall seconds since `start` (1.0 = one core busy)."""
        elapsed = time.monotonic() - self._started
        return {
            name: max(cpu_seconds(pids()) - self._before[name], 0.0) / elapsed
            for name, pids in self._groups.items()
        }
