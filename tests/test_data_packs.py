"""PackStore: entries in few files, newest wins, compaction, pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from cadenza.data.packs import PackStore


def test_entries_survive_flushes_and_the_newest_wins(tmp_path: Path) -> None:
    store = PackStore(tmp_path)
    store.put("a", b"one")
    assert store.get("a") == b"one"  # readable before it is written
    assert store.flush() is not None and store.flush() is None
    store.put("a", b"two")
    store.put("b", b"bee")
    store.flush()
    reopened = PackStore(tmp_path)
    assert (reopened.get("a"), reopened.get("b"), reopened.get("c")) == (b"two", b"bee", None)
    assert len(list(tmp_path.glob("*.zip"))) == 2


def test_many_packs_are_merged_keeping_live_entries(tmp_path: Path) -> None:
    store = PackStore(tmp_path, max_packs=3)
    for i in range(5):
        store.put(f"k{i}", bytes([i]) * 10)
        store.put("shared", bytes([i]))
        store.flush()
    store.discard("k0")
    store.put("late", b"x")
    store.flush()
    packs = list(tmp_path.glob("*.zip"))
    assert len(packs) <= 3
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".zip"]  # no temporary files left
    reopened = PackStore(tmp_path)
    assert reopened.get("shared") == bytes([4]) and reopened.get("k3") == bytes([3]) * 10
    assert reopened.get("late") == b"x"


def test_pending_limits_flush_and_pickling_drops_open_files(tmp_path: Path) -> None:
    store = PackStore(tmp_path, max_pending_entries=2)
    store.put("a", b"1")
    assert not list(tmp_path.glob("*.zip"))
    store.put("b", b"2")
    assert len(list(tmp_path.glob("*.zip"))) == 1
    assert store.get("a") == b"1"  # opens the pack
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get("b") == b"2"


def test_entries_are_written_as_they_come_and_appear_whole(tmp_path: Path) -> None:
    store = PackStore(tmp_path)
    store.put("a", b"1" * 1000)
    store.put("b", b"2")
    (tmp,) = tmp_path.glob(".*.tmp")  # written already, not yet a pack
    assert tmp.stat().st_size > 1000 and not list(tmp_path.glob("*.zip"))
    assert PackStore(tmp_path).get("a") is None  # other readers see nothing yet
    store.put("b", b"changed")  # the pack in progress no longer matches: rewritten
    store.discard("a")
    store.flush()
    assert not list(tmp_path.glob(".*.tmp"))
    reopened = PackStore(tmp_path)
    assert (reopened.get("a"), reopened.get("b")) == (None, b"changed")


def test_a_stale_temporary_pack_is_deleted(tmp_path: Path) -> None:
    import os

    stale, fresh = tmp_path / ".old-write.tmp", tmp_path / ".running-write.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (0, 0))
    assert PackStore(tmp_path).get("anything") is None
    assert not stale.exists() and fresh.exists()


def test_a_failed_flush_keeps_the_entries_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    store = PackStore(tmp_path)
    store.put("a", b"1")
    real_replace = os.replace

    def no_room(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_room)
    with pytest.raises(OSError, match="No space"):
        store.flush()
    monkeypatch.setattr(os, "replace", real_replace)
    store.put("b", b"2")  # after the failure, not a fresh pack holding "b" alone
    assert store.flush() is not None
    reopened = PackStore(tmp_path)
    assert (reopened.get("a"), reopened.get("b")) == (b"1", b"2")
    assert not list(tmp_path.glob(".*.tmp"))


def _corpus_folder(root: Path) -> Path:
    import numpy as np

    from cadenza.midi import write_midi
    from cadenza.score import Score, TimeSignature, make_notes

    for i in range(5):
        starts = np.arange(0, 64, 2)
        score = Score(make_notes(starts, np.full(len(starts), 2), 60 + i + starts % 12), 4,
                      time_signatures=(TimeSignature(0, 4, 4),))
        write_midi(score, root / f"p{i}.mid")
    return root


def _flip_central_directory(pack: Path, field_offset: int, value: bytes) -> None:
    """Overwrite a field of every central-directory record of a ZIP file."""
    data = bytearray(pack.read_bytes())
    start = 0
    while (at := data.find(b"PK\x01\x02", start)) >= 0:
        data[at + field_offset: at + field_offset + len(value)] = value
        start = at + 4
    pack.write_bytes(bytes(data))


@pytest.mark.parametrize(("offset", "value"), [
    (6, b"\xff\x00"),  # "version needed to extract" 25.5: NotImplementedError when read
    (10, b"\x63\x00"),  # compression method 99 (AES)
    (8, b"\x01\x00"),  # the encrypted flag
])
def test_a_damaged_pack_is_dropped_and_rebuilt(tmp_path: Path, offset: int,
                                               value: bytes) -> None:
    """Whatever reading a pack raises marks it damaged; the next build rebuilds the entries
    and the one after reads them from the cache again."""
    from cadenza.data import build_corpus
    from cadenza.representations import PianoRoll

    folder = _corpus_folder(tmp_path / "midi")
    cache = tmp_path / "cache"
    first = build_corpus(folder, PianoRoll(), workers=1, cache_dir=cache, progress=False)
    packs = sorted(cache.rglob("*.zip"))
    assert packs
    for pack in packs:
        _flip_central_directory(pack, offset, value)
    second = build_corpus(folder, PianoRoll(), workers=1, cache_dir=cache, progress=False)
    assert [p.array.tolist() for p in second.pieces] == [p.array.tolist() for p in first.pieces]
    third = build_corpus(folder, PianoRoll(), workers=1, cache_dir=cache, progress=False)
    assert third.cache.array_hits == len(third.pieces) > 0


def test_a_fifo_named_like_a_pack_is_ignored(tmp_path: Path) -> None:
    import os

    store = PackStore(tmp_path / "packs")
    store.put("a", b"1")
    store.flush()
    os.mkfifo(tmp_path / "packs" / "zzz.zip")
    again = PackStore(tmp_path / "packs")
    assert again.get("a") == b"1"  # opening the FIFO would have hung
