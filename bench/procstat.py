"""Benchmark instruments: CPU time and memory of a server process tree, read from /proc."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a proxy may fork workers; they all count)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by `pid` and its descendants."""
    total = 0
    for p in tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _TICKS


@dataclass(frozen=True)
class Memory:
    rss_mb: float  # resident now
    hwm_mb: float  # peak resident since start (VmHWM)


def memory(pid: int) -> Memory:
    """Resident and peak resident memory of `pid` and its descendants, in MB."""
    rss = hwm = 0
    for p in tree(pid):
        try:
            lines = Path(f"/proc/{p}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1])
    return Memory(rss / 1024, hwm / 1024)


def core_busy_seconds(core: int) -> float:
    """CPU seconds core `core` has spent running processes since boot, ours or not.

    Interrupt time is left out: loopback TCP is processed in softirq, which the kernel does not
    charge to any process, so counting it would blame our own traffic on "other processes".
    Steal (the hypervisor ran someone else) is in: it is time our processes lost.
    """
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            user, nice, system, _idle, _iowait, _irq, _softirq, steal = (
                int(x) for x in line.split()[1:9])
            return (user + nice + system + steal) / _TICKS
    raise ValueError(f"no cpu{core} in /proc/stat")


@dataclass(frozen=True)
class Ours:
    """The benchmark's own processes, to tell their CPU use from everyone else's.

    The server under test owns core 0; the fake upstream, wrk (a child that has exited and been
    waited for by the time we look) and this script share core 1.
    """

    server: int
    fake: int

    def snapshot(self) -> dict[str, float]:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        return {"core0": core_busy_seconds(0), "core1": core_busy_seconds(1),
                "server": cpu_seconds(self.server) if self.server != self.fake else 0.0,
                "fake": cpu_seconds(self.fake),
                "load": kids.ru_utime + kids.ru_stime + me.ru_utime + me.ru_stime}

    def foreign_share(self, before: dict[str, float], seconds: float) -> dict[int, float]:
        """The share of `seconds` that processes not ours used on the core that limits the run.

        That is core 0 when a server is under test there. Core 1 only counts for "direct", where
        wrk and the fake saturate it; behind a proxy they leave it partly idle, and other work
        filling that idle time (at a lower priority than ours) takes nothing from the run.
        """
        now = self.snapshot()
        d = {k: now[k] - before[k] for k in now}
        if self.server == self.fake:
            return {1: max(0.0, d["core1"] - d["fake"] - d["load"]) / seconds}
        return {0: max(0.0, d["core0"] - d["server"]) / seconds}
