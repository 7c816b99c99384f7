"""Seeded fuzzing of the cache (issue 15): a few hundred forged caches of the bundled
sample, each written with every checksum right (what a forger does, not what a bit rot
does), must either be refused or load into a store that answers every kind of query
without an exception. `W2A_FUZZ_CACHE_CASES=N` runs N cases instead of the default."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.cache_forge import unpack
from tests.support.paths import SAMPLE_TRACE
from w2a_tui.model import State
from w2a_tui.pipeline import analyze_trace
from w2a_tui.store import StateStore, cache

CASES = int(os.environ.get("W2A_FUZZ_CACHE_CASES", "300"))
SEED = 15

EXTREMES: list[Any] = [
    -1,
    0,
    1,
    2**31,
    2**63 - 1,
    -(2**63),
    2**63,
    2**64,
    1.5,
    float("nan"),
    "",
    "x",
    "\x1b[2J",
    None,
    True,
    [],
    {},
    json.loads("[" * 40 + "1" + "]" * 40),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON tree (dict keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, x in value.items():
            found.extend(_paths(x, (*prefix, key)))
    elif isinstance(value, list):
        for i, x in enumerate(value[:6]):  # a few items of long lists are enough
            found.extend(_paths(x, (*prefix, i)))
    return found


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


def mutate_header(rng: random.Random, header: dict[str, Any], arrays: dict[str, Any]) -> str:
    path = rng.choice(_paths(header))
    value = copy.deepcopy(rng.choice(EXTREMES))
    _set(header, path, value)
    return f"header {'/'.join(map(str, path))} = {value!r:.40}"


def mutate_array(rng: random.Random, header: dict[str, Any], arrays: dict[str, Any]) -> str:
    name = rng.choice(sorted(n for n, a in arrays.items() if a.size))
    flat = arrays[name].reshape(-1)
    info = np.iinfo(flat.dtype)
    i = rng.randrange(flat.size)
    value = rng.choice([info.min, info.max, 0, -1 if info.min < 0 else 1, rng.randint(0, 127)])
    flat[i] = value
    return f"{name}[{i}] = {value}"


def swap_in_array(rng: random.Random, header: dict[str, Any], arrays: dict[str, Any]) -> str:
    name = rng.choice(sorted(n for n, a in arrays.items() if a.size > 1))
    flat = arrays[name].reshape(-1)
    i = rng.randrange(flat.size - 1)
    flat[i], flat[i + 1] = flat[i + 1].copy(), flat[i].copy()
    return f"{name} swap {i}"


def resize_array(rng: random.Random, header: dict[str, Any], arrays: dict[str, Any]) -> str:
    """A consistent lie: an array shortened (or a row dropped), its directory entry too."""
    name = rng.choice(sorted(n for n, a in arrays.items() if a.size))
    arrays[name] = arrays[name][:-1]
    header["arrays"][name]["shape"] = list(arrays[name].shape)
    return f"{name} shortened"


MUTATIONS: list[Callable[[random.Random, dict[str, Any], dict[str, Any]], str]] = [
    mutate_header,
    mutate_array,
    swap_in_array,
    resize_array,
]


def forge(path: Path, header: dict[str, Any], arrays: dict[str, Any], layout: Any) -> None:
    """Write a mutated cache with every checksum right, laying the arrays out as the
    original did (`layout`: its header) whatever the mutated directory says."""
    payload = bytearray(layout["payload_size"])
    for name, entry in layout["arrays"].items():
        raw = np.ascontiguousarray(arrays[name]).tobytes()
        payload[entry["offset"] : entry["offset"] + len(raw)] = raw
        with contextlib.suppress(KeyError, TypeError, IndexError):  # directory replaced
            header["arrays"][name]["crc32"] = zlib.crc32(raw)
    body = json.dumps(header).encode()
    body += b" " * (-(cache._PREAMBLE.size + len(body)) % 64)
    preamble = cache._PREAMBLE.pack(
        cache._MAGIC, cache.FORMAT_VERSION, cache.ANALYSIS_VERSION, len(body), zlib.crc32(body)
    )
    path.write_bytes(preamble + body + bytes(payload))


def exercise(store: StateStore) -> None:
    """Every kind of query the TUI and the exports make."""
    lanes = range(len(store.lanes))
    t0, t1 = store.start_ns, max(store.end_ns, store.start_ns + 1)
    for summary in store.column_summaries(lanes, t0, t1, 64):
        assert (summary.time >= 0).all()
    for lane in lanes:
        assert (store.totals(lane) >= 0).all()
        store.interval_at(lane, (t0 + t1) // 2)
        store.next_transition(lane, t0)
        store.durations(lane, list(State))
    store.longest(list(State), k=5)
    result = store.to_result()
    for data in result.lanes:
        ids = np.frombuffer(data.evidence, dtype=np.int64)
        assert ids.size == 0 or (ids.min() >= -1 and ids.max() < len(result.evidence))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    trace = Path(shutil.copytree(SAMPLE_TRACE, tmp_path_factory.mktemp("fuzz") / "sample"))
    store = StateStore.from_result(analyze_trace(SAMPLE_TRACE), checkpoint_every=4)
    path = cache.save_store(trace, store)
    assert path is not None
    return trace, path.read_bytes()


def test_forged_caches_are_refused_or_harmless(pristine: tuple[Path, bytes]) -> None:
    trace, original = pristine
    path = cache._beside_path(trace.resolve())
    rng = random.Random(SEED)
    refused = accepted = 0
    for case in range(CASES):
        path.write_bytes(original)
        header, arrays = unpack(path)
        layout = copy.deepcopy(header)
        what = rng.choice(MUTATIONS)(rng, header, arrays)
        forge(path, header, arrays, layout)
        store = cache.load_store(trace)
        if store is None:
            refused += 1
            continue
        accepted += 1
        try:
            exercise(store)
        except Exception as err:  # the point of the test: name the case that got through
            raise AssertionError(f"case {case} ({what}) loaded, then: {err!r}") from err
    path.write_bytes(original)
    print(f"cache fuzz: {CASES} cases, {refused} refused, {accepted} loaded and answered")
    assert refused > CASES // 2 and refused + accepted > CASES * 0.9
