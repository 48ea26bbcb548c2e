"""Benchmark profile: py-spy samples of the server under load, summarised as its hottest frames.

`python bench/run.py --profile DIR` calls this after a gateway target is measured: a separate
c=64 run with py-spy attached (so sampling never skews the reported figures), the collapsed
stacks saved in DIR (input for flamegraph.pl or inferno), and the top frames printed.
Also usable alone on a saved file: `python bench/hotspots.py DIR/profile-gateway.txt`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).with_name("py-spy")
# Frames of our own code; everything else (framework, aiohttp, asyncio) is shown by self time.
OURS = ("gateway/", "providers/")


def py_spy() -> str | None:
    return str(PY_SPY) if PY_SPY.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out_dir: Path, name: str, cpu: int) -> Path | None:
    """Sample `pid` for `seconds` into a collapsed-stack file (flamegraph.pl/inferno input)."""
    exe = py_spy()
    if exe is None:
        print("  profile: py-spy not installed (pip install py-spy)", flush=True)
        return None
    raw = out_dir / f"profile-{name}.txt"
    cmd = ["taskset", "-c", str(cpu), exe, "record", "--pid", str(pid), "--duration",
           str(max(1, int(seconds))), "--rate", "200", "--format", "raw", "-o", str(raw),
           "--nonblocking"]
    subprocess.run(cmd, capture_output=True, timeout=seconds + 60, check=False)
    return raw if raw.exists() else None


def summarize(raw: Path, top: int = 25) -> str:
    """Share of samples per frame: inclusive for our code, self time for everything."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            if any(o in frame for o in OURS):
                inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples; our code, inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines.append("self time, any code:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="a py-spy --format raw file")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarize(args.raw, args.top))


if __name__ == "__main__":
    main()
