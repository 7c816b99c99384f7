"""The reader on KVM host traces (the real traces have no KVM events): on small generated
traces, with and without pid/tid/procname contexts, every decoder (`W2A_READER`) yields
the same tuples, and the KVM and scheduler payloads equal what babeltrace2's own text
output prints for the same events (an independent decoder)."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from w2a_tui.cli import main
from w2a_tui.events import Event, EventKind
from w2a_tui.trace import open_trace
from w2a_tui.trace.source import READER_ENV, READERS

K = EventKind
# scenario -> what makes it worth reading: names, field layout, contexts
SCENARIOS = {
    "new-inj-layout": "kvm_x86_* names, kvm_inj_virq(vector, soft, reinjected), contexts",
    "old-names": "kvm_* names, kvm_inj_virq(irq), exit without vcpu_id, prev_state 0x800",
    "svm": "isa = 2, SVM exit codes",
    "no-context": "no pid/tid/procname contexts",
}

# babeltrace2 event name -> (kind, payload field names in tuple order; first present wins)
EXPECTED_FIELDS: dict[str, tuple[EventKind, tuple[tuple[str, ...], ...]]] = {}
for prefix in ("kvm_x86_", "kvm_"):
    EXPECTED_FIELDS[prefix + "entry"] = (K.KVM_ENTRY, (("vcpu_id",),))
    EXPECTED_FIELDS[prefix + "exit"] = (K.KVM_EXIT, (("exit_reason",), ("isa",), ("vcpu_id",)))
    EXPECTED_FIELDS[prefix + "inj_virq"] = (K.KVM_INJ_VIRQ, (("irq", "vector"), ("soft",)))
    EXPECTED_FIELDS[prefix + "apic_accept_irq"] = (
        K.KVM_APIC_ACCEPT_IRQ,
        (("apicid",), ("vec",), ("dm",), ("tm",)),
    )
EXPECTED_FIELDS["sched_switch"] = (
    K.SCHED_SWITCH,
    (("prev_comm",), ("prev_tid",), ("prev_state",), ("next_comm",), ("next_tid",)),
)
EXPECTED_FIELDS["sched_waking"] = (
    K.SCHED_WAKING,
    (("comm",), ("tid",), ("target_cpu",)),
)

_LINE = re.compile(r"^\[(\d+)\.(\d{9})\] \S+ \S+ (\w+): \{ cpu_id = (\d+) \}, (.*)$")
_FIELD = re.compile(r'(\w+) = ("(?:[^"\\]|\\.)*"|[^,}]+)')


def _value(text: str) -> Any:
    text = text.strip()
    if text.startswith('"'):
        return text[1:-1]
    return int(text, 0)


def _bt2_events(trace: Path) -> Counter[Event]:
    """The events of EXPECTED_FIELDS as tuples, built from `babeltrace2` text."""
    out = subprocess.run(
        ["babeltrace2", "--clock-seconds", str(trace)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    events: Counter[Event] = Counter()
    for line in out.splitlines():
        match = _LINE.match(line)
        if match is None or match.group(3) not in EXPECTED_FIELDS:
            continue
        kind, names = EXPECTED_FIELDS[match.group(3)]
        ts = int(match.group(1)) * 1_000_000_000 + int(match.group(2))
        blocks = match.group(5).split("}, {")
        context = (
            dict((k, _value(v)) for k, v in _FIELD.findall(blocks[0])) if len(blocks) > 1 else {}
        )
        fields = dict((k, _value(v)) for k, v in _FIELD.findall(blocks[-1]))
        payload = tuple(next((fields[n] for n in alts if n in fields), -1) for alts in names)
        tid, pid = context.get("tid", -1), context.get("pid", -1)
        events[
            (ts, int(match.group(4)), int(kind), tid, pid, context.get("procname", ""), *payload)
        ] += 1
    return events


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kvm")
    made = {}
    for scenario in SCENARIOS:
        out = root / scenario
        args = ["generate", str(out), "--scenario", scenario, "--seconds", "0.02", "--seed", "2"]
        assert main(args) == 0
        made[scenario] = out
    return made


def _read(trace: Path, reader: str, monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    monkeypatch.setenv(READER_ENV, reader)
    source = open_trace(trace)
    return [ev for batch in source.iter_batches() for ev in batch]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_decoder_yields_the_same_tuples(
    traces: dict[str, Path], scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _read(traces[scenario], "public", monkeypatch)
    assert len(reference) > 500
    for reader in READERS:
        assert _read(traces[scenario], reader, monkeypatch) == reference, reader


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_kvm_and_scheduler_fields_match_babeltrace2_text(
    traces: dict[str, Path], scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _bt2_events(traces[scenario])
    kinds = {int(kind) for kind, _ in EXPECTED_FIELDS.values()}
    ours = Counter(ev for ev in _read(traces[scenario], "fast", monkeypatch) if ev[2] in kinds)
    assert ours == expected
    by_kind = Counter(ev[2] for ev in ours.elements())
    for kind in {kind for kind, _ in EXPECTED_FIELDS.values()}:
        assert by_kind[int(kind)] > 0, kind.name  # each kind really was compared


def test_contexts_and_layouts_come_out_as_the_scenarios_say(
    traces: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond equality with babeltrace2: the fields that differ between generations."""
    bare = _read(traces["no-context"], "fast", monkeypatch)
    assert all(ev[3:6] == (-1, -1, "") for ev in bare if ev[2] == int(K.KVM_EXIT))
    old = _read(traces["old-names"], "fast", monkeypatch)
    old_exits = [ev for ev in old if ev[2] == int(K.KVM_EXIT)]
    assert old_exits and all(ev[8] == -1 for ev in old_exits)  # no vcpu_id before 5.10
    assert any(ev[8] & 0xFF == 0 and ev[8] for ev in old if ev[2] == int(K.SCHED_SWITCH))
    svm = _read(traces["svm"], "fast", monkeypatch)
    assert {ev[7] for ev in svm if ev[2] == int(K.KVM_EXIT)} == {2}
    assert any(ev[6] == 0x78 for ev in svm if ev[2] == int(K.KVM_EXIT))
    new = _read(traces["new-inj-layout"], "fast", monkeypatch)
    assert {ev[6] for ev in new if ev[2] == int(K.KVM_INJ_VIRQ)} >= {0xEC}
    assert all(ev[3] >= 0 and ev[5] for ev in new if ev[2] == int(K.KVM_ENTRY))
