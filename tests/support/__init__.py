"""Helpers the test modules share (fixtures built on them live in `tests/conftest.py`):

- `paths`: where the sample, the bundled real traces and the optional corpus are;
- `trace_copies`: writable and deliberately damaged copies of small real traces;
- `foreign_ctf`: CTF traces written in layouts other tracers use;
- `host`: a hand-written KVM host (`Host`) whose events feed the analysis directly, and
  readers of its result; `scenes`: the small hosts and moves the analysis tests share;
- `sim`: reading the simulator's traces back through babeltrace2, generated once a session;
- `handmade`: a small hand-built analysis result with exactly known intervals.
"""
