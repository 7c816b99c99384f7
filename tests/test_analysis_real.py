"""The analysis end to end on every real trace (none has KVM events): exit 3 and one
sentence, which says "recorded inside a guest" exactly for the three guest traces, each
with its evidence. About 4 s for the 14 traces: the only real-data check of the no-KVM
path of analyze and export."""

from __future__ import annotations

import pytest
from paths import REAL_TRACES, real_manifest

from w2a_tui.analysis.guest import guest_evidence
from w2a_tui.cli import main

GUEST_TRACES = {"tc-scp-src", "tc-scp-dest", "tc-flipping-endianness"}


def _names() -> list[str]:
    return sorted(real_manifest())


def test_every_real_trace_is_listed() -> None:
    names = _names()
    assert len(names) == 14 and set(names) >= GUEST_TRACES


@pytest.mark.parametrize("name", _names())
def test_real_traces_have_no_kvm_activity(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    command = "export" if name.startswith("tc-") else "analyze"
    assert main([command, str(REAL_TRACES / name), "--no-cache"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("w2a-tui: No KVM vCPU activity in this trace") and "\n" not in err
    assert "Record on the" in err and "lttng enable-event -k" in err
    assert ("recorded inside a guest" in err) == (name in GUEST_TRACES)


def test_guest_evidence_prefers_paravirtual_interrupts() -> None:
    said = guest_evidence("web01", ["virtio0-input.0", "virtio1-requests", "IO-APIC"])
    assert said == "it has paravirtual device interrupts (virtio0-input.0, virtio1-requests)"
    assert guest_evidence("VM1", ["ata_piix"]) == "its host name VM1 names a virtual machine"
    assert guest_evidence("wilbrod", ["i915", "eno1"]) == ""
    for host in ("kvm-host1", "vmhost", "qemu-builder"):  # names of hosts, not guests
        assert guest_evidence(host, []) == "", host
