"""The analysis end to end on every real trace (none has KVM events): exit 3 and one
sentence, which says "recorded inside a guest" exactly for the three guest traces, each
with its evidence. About 2 s for the 7 bundled traces (4 s with the 14 of the corpus): the
only real-data check of the no-KVM path of analyze and export."""

from __future__ import annotations

import pytest

from tests.support.paths import (
    NO_CORPUS,
    REAL_TRACES,
    corpus,
    real_manifest,
    real_trace,
    real_trace_names,
)
from w2a_tui.analysis.guest import guest_evidence
from w2a_tui.cli import main

BUNDLED_GUESTS = {"tc-scp-src", "tc-flipping-endianness"}
GUEST_TRACES = {*BUNDLED_GUESTS, "tc-scp-dest"}


def test_every_bundled_trace_is_listed() -> None:
    folders = sorted(p.name for p in REAL_TRACES.iterdir() if p.is_dir())
    assert folders == sorted(real_manifest()) and len(folders) == 7
    assert set(folders) >= BUNDLED_GUESTS
    assert all((REAL_TRACES / name / "README.md").is_file() for name in folders)


def test_every_corpus_trace_is_listed() -> None:
    found = corpus()
    if found is None:
        pytest.skip(NO_CORPUS)
    folders = sorted(p.name for p in found.root.iterdir() if p.is_dir())
    assert folders == sorted(found.manifest)


@pytest.mark.parametrize("name", real_trace_names())
def test_real_traces_have_no_kvm_activity(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    command = "export" if name.startswith("tc-") else "analyze"
    assert main([command, str(real_trace(name)), "--no-cache"]) == 3
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
