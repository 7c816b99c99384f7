"""Event-name normalisation across tracer generations."""

from w2a_tui.events import EventKind, canonical_name, kind_of


def test_both_kvm_generations_map_to_one_kind() -> None:
    assert kind_of("kvm_entry") is EventKind.KVM_ENTRY
    assert kind_of("kvm_x86_entry") is EventKind.KVM_ENTRY
    assert kind_of("kvm_x86_apic_accept_irq") is EventKind.KVM_APIC_ACCEPT_IRQ


def test_old_and_new_irq_timer_spellings() -> None:
    assert canonical_name("softirq_entry") == "irq_softirq_entry"
    assert canonical_name("hrtimer_expire_entry") == "timer_hrtimer_expire_entry"
    assert kind_of("sched:sched_switch") is EventKind.SCHED_SWITCH


def test_unrelated_names_are_not_claimed() -> None:
    assert kind_of("syscall_entry_read") is None
    assert canonical_name("block_rq_issue") == "block_rq_issue"
