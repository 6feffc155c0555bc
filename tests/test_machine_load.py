"""The busy-machine measure (mimnet_tf/machine_load.py): /proc/stat parsing, the shares, the sentence."""
import time

import pytest

from mimnet_tf import machine_load
from mimnet_tf.machine_load import CpuSample, CpuShare

# Two readings of a 2-core machine's /proc/stat, 10 s apart (USER_HZ 100).
# user nice system idle iowait irq softirq steal guest guest_nice
BEFORE = """cpu  1000 500 300 8000 100 0 50 0 40 0
cpu0 500 250 150 4000 50 0 25 0 20 0
cpu1 500 250 150 4000 50 0 25 0 20 0
intr 12345 0 0
ctxt 999
"""
AFTER = """cpu  1400 1550 400 8300 120 0 60 40 90 0
cpu0 700 775 200 4150 60 0 30 20 45 0
cpu1 700 775 200 4150 60 0 30 20 45 0
intr 12400 0 0
"""


def test_busy_time_counts_every_non_idle_field_once_and_the_cores():
    # user + nice + system + irq + softirq + steal; guest is inside user already, idle and iowait are idle.
    assert machine_load.parse_proc_stat(BEFORE, 100) == (pytest.approx((1000 + 500 + 300 + 0 + 50 + 0) / 100), 2)
    assert machine_load.parse_proc_stat(AFTER, 100) == (pytest.approx((1400 + 1550 + 400 + 0 + 60 + 40) / 100), 2)
    with pytest.raises(ValueError, match="not /proc/stat"):
        machine_load.parse_proc_stat("MemTotal: 1 kB\n", 100)


def test_a_run_that_got_a_quarter_while_others_took_more_is_on_a_busy_machine():
    busy_before, cores = machine_load.parse_proc_stat(BEFORE, 100)
    busy_after, _ = machine_load.parse_proc_stat(AFTER, 100)
    # Everyone used 16 CPU seconds of the 20 (10 s x 2 cores); this process 5 of them.
    start = CpuSample(wall=100.0, busy=busy_before, own=30.0, cores=cores)
    end = CpuSample(wall=110.0, busy=busy_after, own=35.0, cores=cores)
    usage = machine_load.share(start, end)
    assert usage == CpuShare(seconds=10.0, cores=2, own=pytest.approx(0.25), others=pytest.approx(0.55))
    assert usage.busy
    assert machine_load.describe(usage) == ("the machine was busy: other processes took 55 % of its 2 cores, "
                                            "this run got 25 % (0.5 of 2 cores)")


def test_a_run_alone_on_the_machine_is_told_so():
    start = CpuSample(wall=0.0, busy=1000.0, own=1.0, cores=2)
    end = CpuSample(wall=60.0, busy=1000.0 + 114.4, own=1.0 + 112.0, cores=2)  # 2.4 s of others in 120 core-seconds
    usage = machine_load.share(start, end)
    assert not usage.busy and usage.others == pytest.approx(0.02)
    assert machine_load.describe(usage) == ("the machine was quiet: this run got 93 % (1.9 of 2 cores); "
                                            "other processes took 2 %")
    # Tick rounding can make our own time exceed the machine's by a tick: never a negative share.
    rounded = machine_load.share(start, CpuSample(wall=60.0, busy=1000.0 + 110.0, own=1.0 + 110.5, cores=2))
    assert rounded.others == 0.0
    assert machine_load.describe(None) == "CPU share not measured (no /proc/stat on this system)"


def test_sample_reads_the_file_and_gives_none_without_it(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(BEFORE)
    reading = machine_load.sample(str(stat))
    assert reading.cores == 2 and reading.busy > 0 and reading.own > 0
    assert machine_load.sample(str(tmp_path / "missing")) is None


def test_this_machine_sees_its_own_work():
    start = machine_load.sample()
    if start is None:
        pytest.skip("no /proc/stat on this system")
    began = time.process_time()
    while time.process_time() - began < 0.5:  # half a CPU second of our own
        pass
    usage = machine_load.share(start, machine_load.sample())
    assert usage.own * usage.seconds * usage.cores >= 0.45
    assert 0.0 <= usage.others <= 1.0 and usage.own + usage.others <= 1.0 + 0.05
