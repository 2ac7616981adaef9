"""`--profile`: py-spy samples custid's workers during an extra, unscored run of phase c.

py-spy writes a speedscope file (open it at https://www.speedscope.app or with
the `speedscope` npm package); the report lists the functions the event loop's
samples land in. `Runner.run` on top means the loop itself: uvloop's C code,
including waiting for I/O.
"""

import json
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def py_spy_binary() -> str:
    beside_python = Path(sys.executable).with_name("py-spy")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed: `pip install -e '.[test]'`")
    return found


def start_recording(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """Sample `pid` and its children (the workers) for `seconds`, without pausing them."""
    return subprocess.Popen(
        [
            py_spy_binary(),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--rate",
            "250",
            "--duration",
            str(max(int(round(seconds)), 1)),
            "--format",
            "speedscope",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish_recording(recording: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        _, errors = recording.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        recording.kill()
        recording.wait(10)
        raise
    if recording.returncode != 0:
        raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace')}")


@dataclass(frozen=True)
class HotFrame:
    """A function and the share of samples it is on (total) or at the top of (own)."""

    frame: str
    own: float
    total: float


def _frame_name(frame: dict[str, object]) -> str:
    location = str(frame.get("file") or "")
    if "site-packages/" in location:
        location = location.split("site-packages/", 1)[1]
    elif location.startswith(f"{REPO}/"):
        location = location[len(f"{REPO}/") :]
    elif "/lib/python3" in location:
        location = f"stdlib/{Path(location).name}"
    return f"{frame.get('name')} ({location}:{frame.get('line')})"


def hot_frames(speedscope_file: Path, top: int = 15) -> list[HotFrame]:
    """The functions most samples are in, busiest first by own samples."""
    document = json.loads(speedscope_file.read_text())
    frames = document["shared"]["frames"]
    own: Counter[int] = Counter()
    total: Counter[int] = Counter()
    samples = 0
    # Only the event loop's thread: py-spy counts the idle threads of the
    # threadpool (sync dependencies run there) as busy, drowning everything else.
    loops = [profile for profile in document["profiles"] if '"MainThread"' in profile["name"]]
    for profile in loops:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack:
                continue
            samples += weight
            own[stack[-1]] += weight
            for index in set(stack):
                total[index] += weight
    if samples == 0:
        return []
    # With --subprocesses py-spy roots each stack in a "process PID:command" frame.
    ranked = [
        HotFrame(_frame_name(frames[index]), count / samples, total[index] / samples)
        for index, count in own.most_common()
        if not str(frames[index].get("name", "")).startswith("process ")
    ]
    return ranked[:top]
