"""How evidence reads to a user: who emitted an interrupt or woke a vCPU, and in which
context. Shared by the drill-down, the summary and the reports, so they say it alike.

In an interrupt context (hrtimer, softirq, hard irq) the recorded thread is only the one
the interrupt happened to interrupt on that CPU: it is named as such, never as the cause.
"""

from __future__ import annotations

from w2a_tui.analysis.classify import TASK_CONTEXT

STILL_WAITING: str = "still waiting when the trace ended"


def is_interrupt_context(context: str) -> bool:
    return bool(context) and context != TASK_CONTEXT


def interrupt_name(context: str) -> str:
    """`hrtimer` -> `hrtimer interrupt`, `softirq:NET_RX` -> `NET_RX softirq`,
    `irq:42:virtio1-req.0` -> `irq 42 (virtio1-req.0)`."""
    kind, _, rest = context.partition(":")
    if kind == "softirq" and rest:
        return f"{rest} softirq"
    if kind == "irq" and rest:
        number, _, name = rest.partition(":")
        return f"irq {number} ({name})" if name else f"irq {number}"
    return f"{context} interrupt"


def in_context(who: str, context: str, cpu: int) -> str:
    """`hrtimer interrupt on CPU 3 (interrupting cc1 (tid 6100))` for an interrupt
    context, `vhost-3100 (tid 3105) in task context` for a thread, `who` without one."""
    if is_interrupt_context(context):
        where = f" on CPU {cpu}" if cpu >= 0 else ""
        interrupted = f" (interrupting {who})" if who and who != "?" else ""
        return f"{interrupt_name(context)}{where}{interrupted}"
    return f"{who} in {context} context" if context else who


def short_cause(comm: str, context: str, cpu: int) -> str:
    """A table cell's waker: `vhost-3100 (thread)`, or `hrtimer interrupt on CPU 3` (the
    thread it interrupted is no cause: the drill-down names it)."""
    if is_interrupt_context(context):
        return in_context("", context, cpu)
    return f"{comm} (thread)" if context else comm
