"""The analysis output's version: part of every cache key, so a change here rebuilds caches.

Bump it whenever the analysis can give a different result for the same trace, and say
what changed under "Analysis versions" in CHANGELOG.md.
"""

from __future__ import annotations

from typing import Final

ANALYSIS_VERSION: Final = 9
