"""`--vectors PRESET|FILE` on analyze/export: the guest vector table decides rule 1/2
reasons, a bad value is one sentence with exit 2, and a non-default table never reuses
or pollutes the cache (its key does not include the table)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from w2a_tui.analysis.vectors import VECTOR_PRESETS, resolve_vector_table
from w2a_tui.cli import main
from w2a_tui.errors import W2AError
from w2a_tui.model import Reason


def test_default_preset_means_default_table() -> None:
    assert resolve_vector_table(None) is None
    assert resolve_vector_table("linux") is None


def test_presets_follow_the_guest_kernels() -> None:
    old, new = resolve_vector_table("linux-old"), resolve_vector_table("linux-new")
    assert old is not None and new is not None
    assert old[0xEF] is Reason.TIMER and 0xEC not in old
    assert new[0xEC] is Reason.TIMER and 0xEF not in new
    assert old[0xFD] is new[0xFD] is Reason.TASK
    assert set(VECTOR_PRESETS) >= {"linux", "linux-old", "linux-new", "windows"}


def test_toml_file_extends_a_preset(tmp_path: Path) -> None:
    path = tmp_path / "guest.toml"
    path.write_text('base = "linux-old"\n[vectors]\n0xd1 = "timer"\n65 = "disk"\n')
    table = resolve_vector_table(str(path))
    assert table is not None
    assert (table[0xD1], table[65], table[0xEF]) == (Reason.TIMER, Reason.DISK, Reason.TIMER)


def test_json_file_at_top_level(tmp_path: Path) -> None:
    path = tmp_path / "guest.json"
    path.write_text(json.dumps({"0xec": "net"}))
    assert resolve_vector_table(str(path)) == {0xEC: Reason.NET}


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("bad.json", "{not json", "cannot read it as JSON"),
        ("bad.toml", "[vectors]\n0xec = 'sleepy'\n", "'sleepy' is not one of"),
        ("bad2.toml", "[vectors]\nabc = 'timer'\n", "not a vector number"),
        ("bad3.json", '{"300": "timer"}', "outside 0-255"),
        ("bad4.json", '{"base": "beos"}', "is not one of linux"),
        ("empty.json", "{}", "maps no vector"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, name: str, text: str, words: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(W2AError) as err:
        resolve_vector_table(str(path))
    assert words in err.value.message and err.value.status == 2


def test_unknown_preset_exits_2_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tmp_path), "--vectors", "beos"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("w2a-tui: --vectors beos: not a preset") and "\n" not in err


def _wait_time(csv_text: str) -> Counter[str]:
    time: Counter[str] = Counter()
    for row in csv.DictReader(io.StringIO(csv_text)):
        if row["state"].startswith("wait_"):
            time[row["state"]] += int(row["end_ns"]) - int(row["start_ns"])
    return time


def test_the_table_decides_reasons_and_bypasses_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `timer` scenario injects 0xEC: a timer with the default table, still a timer
    with linux-old (0xEF only: the VM learned 0xEC from the hrtimer context that delivers
    it), disk with a file that says so (the table comes first). The default run writes the
    cache first: the later runs must not read it back."""
    trace = tmp_path / "timer"
    assert main(["generate", str(trace), "--scenario", "timer", "--seconds", "0.2"]) == 0
    capsys.readouterr()

    def export(*extra: str) -> Counter[str]:
        assert main(["export", str(trace), *extra]) == 0
        return _wait_time(capsys.readouterr().out)

    default = export()
    assert default["wait_timer"] > 0.9 * sum(default.values())
    old = export("--vectors", "linux-old")
    assert old == default
    table = tmp_path / "disk.toml"
    table.write_text('[vectors]\n0xec = "disk"\n')
    as_disk = export("--vectors", str(table))
    assert as_disk["wait_disk"] == default["wait_timer"]
    assert export() == default  # the cache still holds the default table's result
