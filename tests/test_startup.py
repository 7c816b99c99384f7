"""What every command pays before its first event: the command line must not load numpy
(and start a BLAS thread pool) before it has told OpenBLAS to use one thread."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from w2a_tui.cli import single_threaded_blas


def test_cli_import_does_not_load_numpy() -> None:
    code = "import sys, w2a_tui.cli; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_one_blas_thread_unless_the_user_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    single_threaded_blas()
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_numpy_starts_no_thread_after_it() -> None:
    """The process that imports numpy after it stays single-threaded (OpenBLAS would
    start one thread per core of this machine)."""
    code = (
        "import os, w2a_tui.cli as cli; cli.single_threaded_blas(); import numpy;"
        "print(len(os.listdir('/proc/self/task')))"
    )
    unset = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "1"
