"""w2a-tui: what every vCPU of every KVM guest was doing, from the host kernel trace alone."""

import os

__version__ = "0.1.0"


def single_threaded_blas() -> None:
    """No BLAS thread pool: nothing here multiplies matrices, yet numpy's OpenBLAS starts
    one thread per core at import and they spin (on 2 cores, 50-110 ms of CPU per command;
    on a 64-core host, 64 threads). Run when the package is imported, before any of its
    modules imports numpy, so every entry point (the command line, the TUI, decoding
    workers, which inherit it) gets it; a user's own OPENBLAS_NUM_THREADS or
    OMP_NUM_THREADS is kept, and a numpy imported earlier is left as it is."""
    if "OPENBLAS_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"


single_threaded_blas()
