"""The analysis output's version: part of every cache key, so a change here rebuilds caches.

Bump it whenever the analysis can give a different result for the same trace.
History: 1 first release; 2 vCPUs resynchronised after lost events (unknown where hidden);
3 a VM is named by its main thread's latest comm (QEMU renames itself after exec).
"""

from __future__ import annotations

from typing import Final

ANALYSIS_VERSION: Final = 3
