"""How much of the machine a run got: its own CPU time against what every process used (/proc/stat).

A time-budgeted run (`make demo`) trains for so many minutes, so its figures depend on how much
CPU it got. Two samples, at the start and the end, give the share of all cores' time this
process used (os.times: user + system, its threads and waited-for children included) and the
share the other processes took (/proc/stat's busy time minus ours). A run whose other
processes took BUSY_SHARE or more of the machine ran on a busy machine, and says so.

    start = machine_load.sample()
    ...                                    # the run
    usage = machine_load.share(start, machine_load.sample())
    print(machine_load.describe(usage))    # the machine was busy: other processes took 47 % ...
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional

PROC_STAT = "/proc/stat"
BUSY_SHARE = 0.2  # other processes' share of all cores' time from which a machine counts as busy
# /proc/stat's aggregate "cpu" line: user nice system idle iowait irq softirq steal guest guest_nice.
# guest and guest_nice are already inside user and nice; idle and iowait are the idle time.
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


@dataclasses.dataclass(frozen=True)
class CpuSample:
    """One reading: wall clock, CPU seconds used by every process and by this one, and the core count."""

    wall: float
    busy: float
    own: float
    cores: int


@dataclasses.dataclass(frozen=True)
class CpuShare:
    """What a run got between two samples; shares are of all cores' time over `seconds`, in [0, 1]."""

    seconds: float
    cores: int
    own: float
    others: float

    @property
    def busy(self) -> bool:
        return self.others >= BUSY_SHARE


def parse_proc_stat(text: str, ticks_per_second: float) -> tuple[float, int]:
    """(CPU seconds every process has used since boot, number of cores) from /proc/stat's text."""
    busy, cores = None, 0
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "cpu":
            values = [int(v) for v in fields[1:]]
            busy = sum(values[i] for i in _BUSY_FIELDS if i < len(values)) / ticks_per_second
        elif fields[0].startswith("cpu") and fields[0][3:].isdigit():
            cores += 1
    if busy is None or cores == 0:
        raise ValueError("not /proc/stat text: no aggregate 'cpu' line or no 'cpuN' lines")
    return busy, cores


def sample(path: str = PROC_STAT) -> Optional[CpuSample]:
    """A reading now, or None where /proc/stat cannot be read (not Linux)."""
    try:
        with open(path, encoding="ascii") as f:
            busy, cores = parse_proc_stat(f.read(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        return None
    times = os.times()
    return CpuSample(wall=time.monotonic(), busy=busy, own=times.user + times.system + times.children_user
                     + times.children_system, cores=cores)


def share(start: CpuSample, end: CpuSample) -> CpuShare:
    """The shares of the machine this process and the others used between two samples."""
    seconds = end.wall - start.wall
    capacity = max(seconds * end.cores, 1e-9)
    own = max(end.own - start.own, 0.0)
    # /proc/stat counts in ticks (10 ms) and os.times rounds too: never report a negative other share.
    others = max(end.busy - start.busy - own, 0.0)
    return CpuShare(seconds=seconds, cores=end.cores, own=min(own / capacity, 1.0), others=min(others / capacity, 1.0))


def describe(usage: Optional[CpuShare]) -> str:
    """One line: was the machine busy, and how much of it did the run get."""
    if usage is None:
        return "CPU share not measured (no /proc/stat on this system)"
    cores = f"{usage.cores} core{'s' if usage.cores != 1 else ''}"
    got = f"this run got {usage.own * 100:.0f} % ({usage.own * usage.cores:.1f} of {cores})"
    if usage.busy:
        return f"the machine was busy: other processes took {usage.others * 100:.0f} % of its {cores}, {got}"
    return f"the machine was quiet: {got}; other processes took {usage.others * 100:.0f} %"
