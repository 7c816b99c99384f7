"""Opening a trace from its cache does not wait for the pCPU lanes (issue 13, the first
frame): their sidecar's header is checked before the main screen, its arrays are read and
checked (completely) at the first use, in a worker once the lanes are shown, or by `p`."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.support.paths import SAMPLE_TRACE
from w2a_tui.pipeline import load_store
from w2a_tui.sim import generate, get_scenario, with_overrides
from w2a_tui.store.pcpu import load_pcpu, lost_windows_of
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.widgets.timeline import RULER_ROWS, Timeline


@pytest.fixture
def cached_sample(tmp_path: Path) -> Path:
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    _, hit = load_store(trace)  # analysed, cached with its pCPU sidecar
    assert not hit
    return trace


def _sidecar(trace: Path) -> Path:
    return trace.parent / f"{trace.name}.w2a-cache.pcpu"


def _damage_an_array(path: Path) -> None:
    """Flip one byte inside the `store.starts` array: the header stays sound."""
    data = bytearray(path.read_bytes())
    _, _, _, hlen, _ = struct.unpack_from("<8sIIQI", data)
    header = json.loads(bytes(data[28 : 28 + hlen]))
    at = 28 + hlen + header["arrays"]["store.starts"]["offset"] + 3
    data[at] ^= 0x40
    path.write_bytes(bytes(data))


def test_the_sidecar_is_read_at_first_use_and_checked_completely(cached_sample: Path) -> None:
    store, hit = load_store(cached_sample)
    assert hit and store.pcpu_pending
    pcpu = store.pcpu  # read now
    assert not store.pcpu_pending and pcpu is not None and pcpu.lanes
    fresh = load_pcpu(cached_sample)
    assert fresh is not None and pcpu.n_intervals == fresh.n_intervals


def test_a_damaged_sidecar_is_refused_at_first_use_removed_and_rebuilt(
    cached_sample: Path,
) -> None:
    _damage_an_array(_sidecar(cached_sample))
    store, hit = load_store(cached_sample)
    assert hit and store.pcpu_pending  # its header is sound: the vCPU lanes open at once
    assert store.pcpu is None and store.pcpu_damaged  # the arrays fail their checksum
    assert not _sidecar(cached_sample).exists()  # ours: removed
    again, hit = load_store(cached_sample)  # no sidecar: analysed again, written again
    assert not hit and again.pcpu is not None and _sidecar(cached_sample).exists()


def test_a_sidecar_with_a_bad_header_is_analysed_again_at_once(cached_sample: Path) -> None:
    sidecar = _sidecar(cached_sample)
    sidecar.write_bytes(sidecar.read_bytes()[:100])
    store, hit = load_store(cached_sample)
    assert not hit and not store.pcpu_pending and store.pcpu is not None


async def _main_screen(app: W2AApp, pilot: Pilot[int]) -> MainScreen:
    for _ in range(1000):
        if isinstance(app.screen, MainScreen):
            return app.screen
        await pilot.pause(0.01)
    raise AssertionError("the main screen never came")


async def test_p_shows_the_pcpu_lanes_of_a_cached_trace(cached_sample: Path) -> None:
    app = W2AApp(str(cached_sample))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _main_screen(app, pilot)
        assert screen.from_cache
        await pilot.press("p")
        tl = screen.query_one(Timeline)
        assert tl.pcpu and tl.store is screen.store.pcpu and tl.store.lanes


async def test_p_says_when_the_cached_pcpu_lanes_are_damaged(cached_sample: Path) -> None:
    _damage_an_array(_sidecar(cached_sample))
    app = W2AApp(str(cached_sample))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _main_screen(app, pilot)
        await pilot.press("p")
        await pilot.pause()
        assert not screen.query_one(Timeline).pcpu
        shown = [n.message for n in app._notifications]
        assert any("no host CPU lanes: their cache was damaged" in m for m in shown), shown


async def test_lost_windows_are_marked_once_the_cached_pcpu_lanes_are_read(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "lost"
    generate(trace, with_overrides(get_scenario("lost"), seconds=0.3, seed=1))
    load_store(trace)  # cached
    app = W2AApp(str(trace))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _main_screen(app, pilot)
        await app.workers.wait_for_complete()  # the worker reading the pCPU lanes
        await pilot.pause()
        assert not screen.store.pcpu_pending
        tl = screen.query_one(Timeline)
        windows = lost_windows_of(screen.store.pcpu)
        assert windows and tl.lost == windows
        line = tl.render_line(RULER_ROWS - 1).text[tl.label_width :]
        assert line[tl.view.col_of(windows[0][0])] == "!"


def test_a_sidecar_changed_after_its_header_was_checked_is_not_removed(
    cached_sample: Path,
) -> None:
    """Another process may have rewritten it meanwhile: only the file checked is removed."""
    store, hit = load_store(cached_sample)
    assert hit and store.pcpu_pending
    sidecar = _sidecar(cached_sample)
    _damage_an_array(sidecar)
    st = sidecar.stat()
    os.utime(sidecar, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert store.pcpu is None and store.pcpu_damaged
    assert sidecar.exists()


def test_serve_rebuilds_a_damaged_sidecar_before_serving(
    cached_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` warms the cache for every tab it will open: the pCPU lanes too."""
    import textual_serve.server

    from w2a_tui.cli import main

    _damage_an_array(_sidecar(cached_sample))
    served: list[str] = []
    monkeypatch.setattr(
        textual_serve.server.Server, "serve", lambda self, debug=False: served.append("x")
    )
    assert main(["serve", str(cached_sample), "--port", "8124"]) == 0
    assert served and load_pcpu(cached_sample) is not None  # sound again
