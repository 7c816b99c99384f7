"""Random analysis results full of cells that need quoting or escaping (commas, quotes,
newlines, non-ASCII, bytes that were not UTF-8), for comparing the export writers."""

from __future__ import annotations

import random

from w2a_tui.model import AnalysisResult, Evidence, LaneData, Source, State, TraceMeta, VmInfo

NASTY = [
    "",
    "qemu",
    "a,b",
    'say "hi"',
    "two\nlines",
    "cr\rhere",
    "tab\there",
    "é日本",
    "?",
    " ",
    "CPU 1/KVM\udcff",  # a byte that was not UTF-8, as `surrogateescape` keeps it
]


def random_result(seed: int, *, max_exit: int = 80) -> AnalysisResult:
    rng = random.Random(seed)
    evidence = [
        Evidence(
            source=rng.choice(list(Source)),
            vector=rng.choice([-1, 0, 0xEC, 0x31, 255]),
            emitter_tid=rng.choice([-1, 7]),
            emitter_comm=rng.choice(NASTY),
            waker_tid=rng.choice([-1, 0, 5, 123456]),
            waker_comm=rng.choice(NASTY),
            waker_context=rng.choice(["", "hrtimer", "softirq:NET_RX"]),
            wakeup_ns=rng.choice([-1, 10]),
            next_tid=rng.choice([-1, 0, 99]),
            next_comm=rng.choice(NASTY),
        )
        for _ in range(rng.randint(0, 40))
    ]
    vms = [VmInfo(pid=pid, name=name) for pid, name in ((100, "web,01"), (200, "pid 200"))]
    vms.append(VmInfo(pid=-1, name="unidentified VM 1"))
    vms.append(VmInfo(pid=300, name='db "main"\n'))
    lanes = []
    for vm in vms:
        for vcpu in range(rng.randint(0, 3)):
            lane = LaneData(vm.pid, vcpu, abs(vm.pid) + vcpu + 1, f"CPU {vcpu}/KVM")
            t = rng.choice([0, 7, 10**18 - 5])
            for _ in range(rng.randint(0, 70)):
                lane.starts.append(t)
                t += rng.choice([1, 9, 10, 999, 10_000, 123_456_789])
                lane.states.append(rng.choice(list(State)))
                lane.exit_reasons.append(rng.choice([-1, 0, 12, 48, max_exit]))
                lane.evidence.append(rng.randrange(-1, len(evidence)) if evidence else -1)
            lane.end_ns = t + rng.choice([0, 5])
            lanes.append(lane)
    lanes.sort(key=lambda x: (x.vm_pid, x.vcpu))
    return AnalysisResult(TraceMeta(path="<random>"), vms, lanes, evidence, [])
