"""Is this trace recorded inside a guest? Evidence for the no-KVM sentence, never a guess
presented as fact: paravirtual device interrupts are strong evidence, a host name that
names a VM is a hint (both are said as what they are)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

# Interrupt names only a virtual machine's kernel registers (virtio, Xen, Hyper-V VMBus).
_PARAVIRT_IRQ: Final = re.compile(r"^(virtio|xen|hv_|vmbus)", re.IGNORECASE)
# Host names people give VMs: VM1, vm-3, qemu0, guest2 (not kvm-host1 or vmhost: hosts).
_VM_HOSTNAME: Final = re.compile(r"^(vm|qemu|guest)[-_]?\d*$", re.IGNORECASE)


def guest_evidence(hostname: str, irq_names: Iterable[str]) -> str:
    """Why the trace looks recorded inside a guest ("" when nothing says so)."""
    paravirt = sorted({name for name in irq_names if _PARAVIRT_IRQ.match(name)})
    if paravirt:
        shown = ", ".join(paravirt[:3])
        return f"it has paravirtual device interrupts ({shown})"
    if hostname and _VM_HOSTNAME.match(hostname):
        return f"its host name {hostname} names a virtual machine"
    return ""
