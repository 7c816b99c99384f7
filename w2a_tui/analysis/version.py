"""The analysis output's version: part of every cache key, so a change here rebuilds caches.

Bump it whenever the analysis can give a different result for the same trace.
History: 1 first release; 2 vCPUs resynchronised after lost events (unknown where hidden);
3 a VM is named by its main thread's latest comm (QEMU renames itself after exec);
4 round-3 audit: rule 1 survives a preemption before the entry, a VM thread's accept
never goes to another VM, device vectors beat `task`, KVM events on a CPU whose thread
is not known yet are kept and adopted at its switch-out, a wake-up traced before the
blocking switch-out makes `ready` from the switch-out; unnamed VMs export an empty name;
5 the lost-events warning counts every `unknown` stretch it caused;
6 rule 2 takes the latest accept by time, also when an earlier one was held;
7 the reader's own warnings (empty stream files) lead the result's warnings;
8 identity revised when a late statedump or fork names a thread, source `open` for a
wait the trace ended in, evidence keeps the CPU of an interrupt-context emitter/waker.
"""

from __future__ import annotations

from typing import Final

ANALYSIS_VERSION: Final = 8
