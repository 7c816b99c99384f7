"""The analysis tests' event builder (`tests.support.host.Host`) writes the contract's tuples."""

from __future__ import annotations

from tests.support.host import Host, K


def test_builder_writes_contract_tuples() -> None:
    h = Host().thread(101, 100, "CPU 0/KVM")
    h.exit(5, 0, 101, 12)
    ts, cpu, kind, tid, pid, comm, *payload = h.events[0]
    assert (ts, cpu, kind, tid, pid, comm) == (5, 0, int(K.KVM_EXIT), 101, 100, "CPU 0/KVM")
    assert payload == [12, 1, -1]
    bare = Host(contexts=False).thread(101, 100, "CPU 0/KVM").exit(5, 0, 101, 12)
    assert bare.events[0][3:6] == (-1, -1, "")
