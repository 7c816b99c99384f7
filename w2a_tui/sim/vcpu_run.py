"""A vCPU in the guest: kvm_exit/kvm_entry, the exits planned ahead up to its next
interacting action, and those actions (HLT, IPI, disk, net, userspace I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.constants import (
    IPI_VECTORS,
    KVM_EXIT_IO,
    RIP_BASE,
    US,
)
from w2a_tui.sim.core import Part
from w2a_tui.sim.entities import (
    E_VCPU,
    GUEST,
    HYPER,
    M_BLOCKED,
    M_RUN,
    SLEEPING,
    Cpu,
    Vcpu,
)

if TYPE_CHECKING:
    from w2a_tui.sim.vcpu_wait import VcpuWait
    from w2a_tui.sim.workers import Workers


class VcpuRun(Part):
    """Drives a vCPU while it runs guest code."""

    waits: VcpuWait
    workers: Workers

    def wire(self, *, waits: VcpuWait, workers: Workers) -> None:
        """The parts this one calls."""
        self.waits = waits
        self.workers = workers

    def exit(self, v: Vcpu, cpu: Cpu, t: int, reason: int) -> None:
        x = self.x
        info1 = 0x181 if reason == x["ept_violation"] else 0
        payload: tuple[int, ...] = (reason, RIP_BASE + 0x3A1C0, self.sc.isa, info1, 0)
        if self.profile.exit_extra_fields:
            intr = 0x800000EC if reason == x["ext_intr"] else 0
            payload += (intr, 0, v.vid)
        self.emit(cpu, t, tp.KVM_EXIT, *payload)
        v.phase = HYPER
        v.last_exit = reason
        v.known = True  # a kvm_exit is evidence, even as the vCPU's first event
        self.row(v, t, HYPER, exit=reason)

    def enter(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        """Inject the highest pending vector (without APICv), enter the guest, plan ahead."""
        t = max(t, cpu.fixed_ts)
        if self.sc.apicv:
            v.pending.clear()
        elif v.pending:
            vec = max(v.pending)
            v.pending.remove(vec)
            self.emit(cpu, t, tp.KVM_INJ_VIRQ, *self.inj_payload(vec))
            t += self.d(300, 800)
        self.emit(cpu, t, tp.KVM_ENTRY, v.vid)
        v.phase = GUEST
        v.mode = M_RUN
        if not v.known:
            v.known = True
            v.lane.rows.append((t, GUEST, v.last_exit, 0, -1, -1, -1))
        else:
            self.row(v, t, GUEST)
        self.plan(v, cpu, t)

    def plan(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        """Write the vCPU's non-interacting exits ahead, up to its next action."""
        sc = v.vm.sc
        rng = self.rng
        kinds = (1.0, sc.ipi_per_busy, sc.disk_per_busy, sc.net_per_busy, sc.blocked_per_busy)
        if v.hlt_soon:
            v.hlt_soon = False
            action, left = 0, self.exp_ns(30 * US)
        else:
            total = sum(kinds)
            left = self.exp_ns(sc.busy_us * US / total)
            r = rng.random() * total
            action = 0
            while r >= kinds[action]:
                r -= kinds[action]
                action += 1
        buf = cpu.buf
        rows = v.lane.rows
        v.plan_buf0 = len(buf)
        v.plan_row0 = len(rows)
        cpu.plan = v
        pool = v.exits
        n = len(pool)
        i = v.pool_i
        tid = v.thread.ctx
        exit_id = self.ids[tp.KVM_EXIT]
        entry_id = self.ids[tp.KVM_ENTRY]
        inj_id = self.ids[tp.KVM_INJ_VIRQ]
        vid = v.vid
        known = v.known  # False only for a vCPU in the guest when the trace began
        while True:
            burst, handle, payload, inject = pool[i]
            i += 1
            if i == n:
                i = 0
            if burst >= left:
                t += left
                break
            left -= burst
            t += burst
            buf.append((t, exit_id, tid, *payload))
            if not known:  # its first kvm_exit: the vCPU's first evidence
                known = v.known = True
            rows.append((t, HYPER, payload[0], 0, -1, -1, -1))
            t += handle
            if inject:
                buf.append((t - 250, inj_id, tid, *inject))
            buf.append((t, entry_id, tid, vid))
            rows.append((t, GUEST, payload[0], 0, -1, -1, -1))
        v.pool_i = i
        v.plan_tok += 1
        self.at(t, self._action, v, v.plan_tok, action)

    def _action(self, t: int, v: Vcpu, tok: int, action: int) -> None:
        if tok != v.plan_tok:
            return
        cpu = self.cpus[v.thread.cpu]
        cpu.plan = None
        v.plan_buf0 = -1
        t = max(t, cpu.fixed_ts)
        x = self.x
        if action == 0:
            self.exit(v, cpu, t, x["hlt"])
            self.waits.after_hlt(v, cpu, t + self.d(400, 1200))
        elif action == 1 and len(v.vm.vcpus) > 1:
            self._send_ipi(v, cpu, t)
        elif action == 2:
            self.exit(v, cpu, t, x["ept_misconfig"])
            self.workers.queue_work(cpu, t + self.d(500, 1500), v.vm.io, ("submit", v), E_VCPU)
            v.hlt_soon = True
            self.enter(v, cpu, cpu.fixed_ts + self.d(1 * US, 3 * US))
        elif action == 3:
            self.exit(v, cpu, t, x["io"])
            self.workers.queue_work(cpu, t + self.d(500, 1500), v.vm.vhost, ("tx", v), E_VCPU)
            v.hlt_soon = True
            self.enter(v, cpu, cpu.fixed_ts + self.d(1 * US, 3 * US))
        elif action == 4:
            self._userspace_exit(v, cpu, t)
        else:
            self.exit(v, cpu, t, x["msr_write"])
            self.enter(v, cpu, t + self.d(1 * US, 2 * US))

    def _send_ipi(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        others = [u for u in v.vm.vcpus if u is not v]
        target = others[self.rng.randrange(len(others))]
        vec = self.rng.choices([a for a, _ in IPI_VECTORS], [w for _, w in IPI_VECTORS])[0]
        self.exit(v, cpu, t, self.x["apic_write" if self.sc.apicv else "msr_write"])
        t2 = self.waits.accept(cpu, t + self.d(400, 900), target, vec, E_VCPU)
        self.enter(v, cpu, t2 + self.d(800, 2000))

    def _userspace_exit(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        """A port-I/O exit handled in QEMU: if the main thread holds the BQL, block on it."""
        self.exit(v, cpu, t, self.x["io"])
        self.emit(cpu, t + self.d(800, 1500), tp.KVM_USERSPACE_EXIT, KVM_EXIT_IO, 0)
        v.plan_tok += 1
        self.at(cpu.fixed_ts + self.d(1 * US, 3 * US), self._take_bql, v, v.plan_tok)

    def _take_bql(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.plan_tok:
            return
        cpu = self.cpus[v.thread.cpu]
        if self.postponed(cpu, t, self._take_bql, v, tok):
            return
        t = self.begin(cpu, t)
        main = v.vm.main
        if main.run != SLEEPING:
            # The main loop is busy and holds the BQL: wait for it (futex, TASK_INTERRUPTIBLE).
            main.work.append(("bql", v))
            v.mode = M_BLOCKED
            self.waits.block(v, cpu, t, halted=False)
        else:
            self.enter(v, cpu, t + self.d(4 * US, 12 * US))
