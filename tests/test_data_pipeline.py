"""The corpus pipeline: reading, splitting, fitting, encoding, caching, parallel workers."""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from conftest import real_piece_paths

from cadenza.data import (
    TRAIN,
    ComposerIndex,
    Corpus,
    CorpusConfig,
    PieceCache,
    SplitConfig,
    assign_split,
    build_corpus,
    default_cache_dir,
)
from cadenza.data.cache import array_entry, unseal
from cadenza.data.entries import unpack_entry
from cadenza.errors import DataError, MidiError
from cadenza.midi import midi_bytes, write_midi
from cadenza.representations import NoteTokens, PianoRoll, PianoRollConfig
from cadenza.representations.base import Representation, RepresentationConfig
from cadenza.score import Score, TimeSignature

LAYOUT = {  # relative path -> transposition of the tiny score (distinct contents)
    "Bach/prelude.mid": 0,
    "Bach/fugue.mid": 1,
    "Bach/invention.mid": 2,
    "Chopin/etude.mid": 3,
    "Chopin/nocturne.mid": 4,
    "Chopin/waltz.mid": 5,
    "Satie/gymnopedie.mid": 6,
    "loose.mid": 7,
}


class PitchVocab(Representation):
    """A test double with a learnt vocabulary: each note becomes its pitch's index."""

    name = "test-pitch-vocab"
    config_class = RepresentationConfig

    def __init__(self, config: RepresentationConfig | None = None) -> None:
        super().__init__(config)
        self.pitches: list[int] | None = None
        self.fitted_on: list[str] = []

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return ()

    @property
    def is_fitted(self) -> bool:
        return self.pitches is not None

    def fit(self, scores: Iterable[Score]) -> None:
        scores = list(scores)
        self.fitted_on = sorted(s.name for s in scores)
        self.pitches = sorted({int(p) for s in scores for p in s.notes["pitch"]})

    def vocabulary(self) -> dict[str, object]:
        return {"pitches": self.pitches} if self.pitches is not None else {}

    def encode(self, score: Score) -> np.ndarray:
        self.check_quantised(score)
        index = {p: i for i, p in enumerate(self.pitches or [])}
        return np.array([index.get(int(p), -1) for p in score.notes["pitch"]], dtype=np.int64)

    def decode(self, array: np.ndarray) -> Score:
        raise NotImplementedError


def write_corpus(root: Path, score: Score, layout: dict[str, int] = LAYOUT) -> None:
    for relative, shift in layout.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_midi(score.transpose(shift), path)


def build(root: Path, rep: Representation | None = None, **kwargs: object) -> Corpus:
    kwargs.setdefault("workers", 1)
    kwargs.setdefault("progress", False)
    return build_corpus(root, rep or PianoRoll(), **kwargs)  # type: ignore[arg-type]


def train_name(prefix: str, folder: str = "Bach") -> str:
    """A relative path starting with ``prefix`` that falls in the training split."""
    return next(f"{folder}/{prefix}{i}.mid" for i in range(1000)
                if assign_split(f"{folder}/{prefix}{i}.mid") == TRAIN)


def arrays_by_path(corpus: Corpus) -> dict[str, np.ndarray]:
    return {piece.path: piece.array for piece in corpus.pieces}


# -- the corpus ------------------------------------------------------------------------------
def test_corpus_pieces_are_split_encoded_and_attributed(tmp_path: Path, tiny_score: Score) -> None:
    root = tmp_path / "midi"
    write_corpus(root, tiny_score)
    rep = PianoRoll()
    corpus = build(root, rep, cache_dir=tmp_path / "cache")
    assert [p.path for p in corpus.pieces] == sorted(LAYOUT)
    for piece in corpus.pieces:
        assert piece.content_hash == hashlib.sha256((root / piece.path).read_bytes()).hexdigest()
        assert piece.split == assign_split(piece.path)
        assert piece.score.ticks_per_quarter == 4
        assert piece.score.composer == piece.composer
        np.testing.assert_array_equal(piece.array, rep.encode(piece.score))
        shift = LAYOUT[piece.path]
        np.testing.assert_array_equal(piece.score.notes["pitch"],
                                      tiny_score.notes["pitch"] + shift)
    composers = {p.path: p.composer for p in corpus.pieces}
    assert composers["Chopin/etude.mid"] == "Chopin" and composers["loose.mid"] is None
    assert corpus.composers() == {"Bach": 3, "Chopin": 3, "Satie": 1}
    assert sum(corpus.split_counts().values()) == len(LAYOUT)
    assert corpus.summary.files_read == len(LAYOUT) and corpus.summary.notes == 10 * len(LAYOUT)


def test_composers_with_a_relative_root(
    tmp_path: Path, tiny_score: Score, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corpus(tmp_path / "out" / "midi", tiny_score)
    monkeypatch.chdir(tmp_path)
    corpus = build(Path("out/midi"), cache_dir=tmp_path / "cache")
    assert corpus.composers() == {"Bach": 3, "Chopin": 3, "Satie": 1}


def test_training_split_alone_is_augmented(tmp_path: Path, tiny_score: Score) -> None:
    write_corpus(tmp_path / "midi", tiny_score)
    config = CorpusConfig(transpose_range=(-3, 4))
    corpus = build(tmp_path / "midi", config=config, use_cache=False)
    assert corpus.transpose_range("train") == (-3, 4)
    assert corpus.transpose_range("valid") == (0, 0)
    assert corpus.transpose_range("generation") == (0, 0)


def test_primers_come_from_the_generation_split(tmp_path: Path, tiny_score: Score) -> None:
    write_corpus(tmp_path / "midi", tiny_score)
    corpus = build(tmp_path / "midi", use_cache=False)
    primers = corpus.primers()
    assert primers and all(p.split == "generation" for p in primers)
    with pytest.raises(DataError, match="Nobody"):
        corpus.primers(composer="Nobody")


def test_single_file_and_missing_or_empty_sources(tmp_path: Path, tiny_score: Score) -> None:
    path = write_midi(tiny_score, tmp_path / "one.mid")
    corpus = build(path, use_cache=False)
    assert [p.path for p in corpus.pieces] == ["one.mid"]
    with pytest.raises(MidiError, match="not-found"):
        build(tmp_path / "absent", use_cache=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no usable piece"):
        build(tmp_path / "empty", use_cache=False)
    for rep in (PianoRoll(), NoteTokens()):  # fitted from scratch: still the same reason
        with pytest.raises(DataError, match="no usable piece among 0"):
            build_corpus(tmp_path / "empty", rep, use_cache=False, fit=True, progress=False)


def test_bad_files_are_skipped_logged_once_and_counted(
    tmp_path: Path, tiny_score: Score, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "midi"
    write_corpus(root, tiny_score)
    good = midi_bytes(tiny_score)
    (root / "Bach" / "cut.mid").write_bytes(good[: len(good) // 2])
    (root / "notes.mid").write_text("not midi")
    write_midi(tiny_score.copy_with(time_signatures=(TimeSignature(0, 3, 4),)), root / "w.mid")
    for workers in (1, 2):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            corpus = build(root, workers=workers, cache_dir=tmp_path / "cache")
        assert len(corpus) == len(LAYOUT)
        assert dict(corpus.summary.skipped) == {"corrupt": 1, "not-midi": 1, "time-signature": 1}
        skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
        assert len(skipped) == 3
        for name in ("cut.mid", "notes.mid", "w.mid"):
            assert sum(name in message for message in skipped) == 1


def test_input_files_are_never_modified(tmp_path: Path, tiny_score: Score) -> None:
    root = tmp_path / "midi"
    write_corpus(root, tiny_score)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in files]
    build(root, cache_dir=tmp_path / "cache")
    build(root, NoteTokens(), workers=2, cache_dir=tmp_path / "cache")
    assert sorted(p for p in root.rglob("*") if p.is_file()) == files
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in files] == before


# -- vocabulary fitting ------------------------------------------------------------------------
def test_vocabulary_is_fitted_on_the_training_split_only(
    tmp_path: Path, tiny_score: Score
) -> None:
    root = tmp_path / "midi"
    write_corpus(root, tiny_score)
    rep = PitchVocab()
    corpus = build(root, rep, use_cache=False)
    train = corpus.split("train")
    assert 0 < len(train) < len(corpus)
    assert rep.fitted_on == sorted(p.score.name for p in train)
    assert rep.pitches == sorted({int(x) for p in train for x in p.score.notes["pitch"]})
    others = [p for p in corpus.pieces if p.split != "train"]
    unseen = {int(x) for p in others for x in p.score.notes["pitch"]} - set(rep.pitches)
    assert unseen, "layout should give held-out pieces pitches the training set lacks"
    assert any(np.any(p.array == -1) for p in others)  # their unseen pitches are unknown


def test_fitting_needs_training_pieces(tmp_path: Path, tiny_score: Score) -> None:
    write_corpus(tmp_path / "midi", tiny_score)
    config = CorpusConfig(split=SplitConfig(train=0.0, valid=0.5, generation=0.5, test=0.0))
    with pytest.raises(DataError, match="training split"):
        build(tmp_path / "midi", PitchVocab(), config=config, use_cache=False)
    with pytest.raises(DataError, match="fit=False"):
        build(tmp_path / "midi", PitchVocab(), use_cache=False, fit=False)


def test_fitted_vocabulary_is_kept_unless_asked(tmp_path: Path, tiny_score: Score) -> None:
    write_corpus(tmp_path / "midi", tiny_score)
    rep = PitchVocab()
    rep.fit([tiny_score.transpose(40)])
    before = rep.vocabulary()
    build(tmp_path / "midi", rep, use_cache=False)
    assert rep.vocabulary() == before
    build(tmp_path / "midi", rep, use_cache=False, fit=True)
    assert rep.vocabulary() != before


# -- the cache -------------------------------------------------------------------------------
def test_second_run_hits_the_cache(tmp_path: Path, tiny_score: Score) -> None:
    write_corpus(tmp_path / "midi", tiny_score)
    first = build(tmp_path / "midi", cache_dir=tmp_path / "cache")
    n = len(LAYOUT)
    assert (first.cache.score_misses, first.cache.array_misses) == (n, n)
    assert (first.cache.score_hits, first.cache.array_hits) == (0, 0)
    second = build(tmp_path / "midi", cache_dir=tmp_path / "cache")
    assert (second.cache.score_hits, second.cache.array_hits) == (n, n)
    assert (second.cache.score_misses, second.cache.array_misses) == (0, 0)
    for a, b in zip(first.pieces, second.pieces, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
        np.testing.assert_array_equal(a.score.notes, b.score.notes)
        assert a.score.tempos == b.score.tempos
        assert a.score.time_signatures == b.score.time_signatures
        assert (a.split, a.composer, a.content_hash) == (b.split, b.composer, b.content_hash)


def test_changed_file_is_rebuilt(tmp_path: Path, tiny_score: Score) -> None:
    root = tmp_path / "midi"
    write_corpus(root, tiny_score)
    build(root, cache_dir=tmp_path / "cache")
    write_midi(tiny_score.transpose(-12), root / "Satie" / "gymnopedie.mid", overwrite=True)
    again = build(root, cache_dir=tmp_path / "cache")
    assert (again.cache.score_misses, again.cache.array_misses) == (1, 1)
    piece = next(p for p in again.pieces if p.path == "Satie/gymnopedie.mid")
    assert int(piece.score.notes["pitch"].min()) == 36
    np.testing.assert_array_equal(piece.array, PianoRoll().encode(piece.score))


def test_changed_representation_or_read_options_are_rebuilt(
    tmp_path: Path, tiny_score: Score
) -> None:
    write_corpus(tmp_path / "midi", tiny_score)
    cache = tmp_path / "cache"
    build(tmp_path / "midi", cache_dir=cache)
    narrow = build(tmp_path / "midi", PianoRoll(PianoRollConfig(low=36)), cache_dir=cache)
    n = len(LAYOUT)
    assert (narrow.cache.score_hits, narrow.cache.array_misses) == (n, n)
    assert all(p.array.shape[1] == 108 - 36 + 1 for p in narrow.pieces)
    all_meters = build(tmp_path / "midi", config=CorpusConfig(meters=None), cache_dir=cache)
    assert (all_meters.cache.score_misses, all_meters.cache.array_misses) == (n, n)


def test_new_vocabulary_rebuilds_the_arrays(tmp_path: Path, tiny_score: Score) -> None:
    root = tmp_path / "midi"
    write_corpus(root, tiny_score)
    cache = tmp_path / "cache"
    first = build(root, NoteTokens(), cache_dir=cache)
    again = build(root, NoteTokens(), cache_dir=cache)
    assert again.representation.fingerprint() == first.representation.fingerprint()
    assert again.cache.array_misses == 0
    # A training piece with a chord nobody played before changes the vocabulary.
    write_midi(tiny_score.transpose(-20), root / train_name("new"))
    changed = build(root, NoteTokens(), cache_dir=cache)
    assert changed.representation.fingerprint() != first.representation.fingerprint()
    assert changed.cache.score_hits == len(LAYOUT)
    assert changed.cache.array_misses == len(LAYOUT) + 1 and changed.cache.array_hits == 0


def pack_members(cache: Path) -> dict[str, Path]:
    """Entry name -> pack file of every entry in a cache folder."""
    members = {}
    for pack in sorted((cache / "packs").glob("*.zip")):
        with zipfile.ZipFile(pack) as handle:
            members.update(dict.fromkeys(handle.namelist(), pack))
    return members


def damage_member(pack: Path, name: str) -> None:
    """Flip bytes inside one stored member so that its CRC-32 no longer matches."""
    with zipfile.ZipFile(pack) as handle:
        info = handle.getinfo(name)
    data = bytearray(pack.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 10, start + min(info.file_size, 60)):
        data[i] ^= 0xFF
    pack.write_bytes(bytes(data))


def test_damaged_cache_entries_are_rebuilt(
    tmp_path: Path, tiny_score: Score, caplog: pytest.LogCaptureFixture
) -> None:
    write_corpus(tmp_path / "midi", tiny_score)
    cache = tmp_path / "cache"
    first = build(tmp_path / "midi", cache_dir=cache)
    members = pack_members(cache)
    arrays = sorted(m for m in members if m.startswith("arrays/"))
    scores = sorted(m for m in members if m.startswith("scores/"))
    assert len(arrays) == len(scores) == len(LAYOUT)
    for name in (arrays[0], arrays[1], scores[0]):
        damage_member(members[name], name)
    with caplog.at_level(logging.WARNING, logger="cadenza.data.cache"):
        second = build(tmp_path / "midi", cache_dir=cache)
    assert sum("damaged cache entry" in r.getMessage() for r in caplog.records) >= 3
    assert second.cache.score_misses == 1 and second.cache.array_misses >= 2
    for a, b in zip(first.pieces, second.pieces, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
    third = build(tmp_path / "midi", cache_dir=cache)
    assert third.cache.score_misses == 0 and third.cache.array_misses == 0


def test_a_damaged_pack_is_deleted_and_rebuilt(
    tmp_path: Path, tiny_score: Score, caplog: pytest.LogCaptureFixture
) -> None:
    write_corpus(tmp_path / "midi", tiny_score)
    cache = tmp_path / "cache"
    build(tmp_path / "midi", cache_dir=cache)
    (pack,) = (cache / "packs").glob("*.zip")
    pack.write_bytes(pack.read_bytes()[:100])  # truncated: no ZIP directory
    with caplog.at_level(logging.WARNING, logger="cadenza.data.packs"):
        again = build(tmp_path / "midi", cache_dir=cache)
    assert any("damaged cache pack" in r.getMessage() for r in caplog.records)
    assert not pack.exists() and again.cache.score_misses == len(LAYOUT)
    assert build(tmp_path / "midi", cache_dir=cache).cache.score_misses == 0


def test_cache_entry_of_the_wrong_shape_counts_as_damaged(tmp_path: Path) -> None:
    cache = PieceCache(tmp_path)
    cache.save_array("ab" * 32, array_entry(np.zeros((4, 87), np.uint8)))
    cache.flush()
    reopened = PieceCache(tmp_path)
    assert reopened.load_array("ab" * 32, (87,)) is not None
    assert reopened.load_array("ab" * 32, (88,)) is None
    assert PieceCache.array_name("ab" * 32) not in reopened.store.index()


def test_swapped_or_flipped_cache_entries_are_caught_by_their_checksum(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each entry carries a CRC-32 of its name and bytes: the bytes of one entry stored under
    another's name, or one flipped bit, count as damage and are rebuilt."""
    cache = PieceCache(tmp_path)
    first, second = "ab" * 32, "cd" * 32
    cache.save_array(first, array_entry(np.zeros((4, 8), np.uint8)))
    cache.save_array(second, array_entry(np.ones((6, 8), np.uint8)))
    name_a, name_b = PieceCache.array_name(first), PieceCache.array_name(second)
    stored_a, stored_b = cache.store.get(name_a), cache.store.get(name_b)
    assert stored_a is not None and stored_b is not None
    cache.store.put(name_a, stored_b)  # swapped: valid entry bytes under the wrong name
    flipped = bytearray(stored_b)
    flipped[-12] ^= 0x01
    cache.store.put(name_b, bytes(flipped))
    with caplog.at_level(logging.WARNING, logger="cadenza.data.cache"):
        assert cache.load_array(first, (8,)) is None
        assert cache.load_array(second, (8,)) is None
    assert sum("checksum mismatch" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize("rep_class", [PianoRoll, NoteTokens], ids=lambda c: c.name)
def test_cache_entries_hold_only_plain_numbers(
    tmp_path: Path, tiny_score: Score, rep_class: type[Representation]
) -> None:
    write_corpus(tmp_path / "midi", tiny_score)
    corpus = build(tmp_path / "midi", rep_class(), cache_dir=tmp_path / "cache")
    members = pack_members(tmp_path / "cache")
    assert len(members) == 2 * len(LAYOUT)
    stored = {}
    for name, pack in members.items():
        with zipfile.ZipFile(pack) as handle:
            arrays, meta = unpack_entry(unseal(name, handle.read(name)))
        assert all(a.dtype.kind in "biuf" for a in arrays.values())
        if name.startswith("scores/"):
            assert {"start", "duration", "pitch", "velocity"} <= set(arrays)
            assert meta["ticks_per_quarter"] == 4
        else:
            assert name.startswith("arrays/") and set(arrays) == {"array"}
            stored[arrays["array"].tobytes()] = arrays["array"]
    for piece in corpus.pieces:  # the arrays the corpus holds are the stored ones
        assert piece.array.tobytes() in stored


def test_cache_folder_precedence(
    tmp_path: Path, tiny_score: Score, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CADENZA_CACHE_DIR", str(tmp_path / "from-env"))
    assert default_cache_dir() == tmp_path / "from-env"
    assert default_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    write_corpus(tmp_path / "midi", tiny_score, {"a.mid": 0})
    build(tmp_path / "midi")
    assert len([m for m in pack_members(tmp_path / "from-env") if m.startswith("arrays/")]) == 1
    build(tmp_path / "midi", use_cache=False, cache_dir=tmp_path / "off")
    assert not (tmp_path / "off").exists()
    monkeypatch.delenv("CADENZA_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "cadenza"


# -- parallel workers ------------------------------------------------------------------------
@pytest.mark.parametrize("rep_class", [PianoRoll, NoteTokens], ids=lambda c: c.name)
def test_two_workers_give_the_same_corpus_as_one(
    tmp_path: Path, tiny_score: Score, rep_class: type[Representation]
) -> None:
    root = tmp_path / "midi"
    write_corpus(root, tiny_score)
    for real in real_piece_paths()[:2]:  # two real files as well, when the data is there
        (root / "real").mkdir(exist_ok=True)
        (root / "real" / real.name).symlink_to(real)
    serial = build(root, rep_class(), workers=1, use_cache=False)
    parallel = build(root, rep_class(), workers=2, use_cache=False)
    assert serial.representation.fingerprint() == parallel.representation.fingerprint()
    assert [p.path for p in serial.pieces] == [p.path for p in parallel.pieces]
    for a, b in zip(serial.pieces, parallel.pieces, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
        assert (a.split, a.composer, a.content_hash) == (b.split, b.composer, b.content_hash)
    # A warm cache read by two workers matches too.
    build(root, rep_class(), workers=2, cache_dir=tmp_path / "cache")
    warm = build(root, rep_class(), workers=2, cache_dir=tmp_path / "cache")
    assert warm.cache.array_misses == 0
    for a, b in zip(serial.pieces, warm.pieces, strict=True):
        np.testing.assert_array_equal(a.array, b.array)


# -- composers -------------------------------------------------------------------------------
def test_composer_from_metadata_csv(tmp_path: Path, tiny_score: Score) -> None:
    root = tmp_path / "set" / "midis"
    write_corpus(root, tiny_score)
    (tmp_path / "set" / "metadata.csv").write_text(
        "composer,title,midi\n"
        "J. S. Bach,Prelude,midis/Bach/prelude.mid\n"
        "Anonymous,Loose leaf,midis/loose.mid\n",
        encoding="utf-8",
    )
    corpus = build(root, use_cache=False)
    composers = {p.path: p.composer for p in corpus.pieces}
    assert composers["Bach/prelude.mid"] == "J. S. Bach"  # the CSV (in the parent) wins
    assert composers["loose.mid"] == "Anonymous"
    assert composers["Bach/fugue.mid"] == "Bach"  # not listed: the folder name
    # A CSV at the root itself, with paths relative to it, is found first.
    (root / "metadata.csv").write_text("composer,midi\nSomeone Else,Bach/fugue.mid\n")
    assert ComposerIndex(root).composer_of("Bach/fugue.mid") == "Someone Else"
    assert ComposerIndex(root).composer_of(root / "Bach" / "prelude.mid") == "Bach"


def test_metadata_csv_without_the_needed_columns_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "Ravel").mkdir()
    (tmp_path / "metadata.csv").write_text("author,file\nX,Ravel/a.mid\n")
    with caplog.at_level(logging.WARNING):
        index = ComposerIndex(tmp_path)
    assert index.composer_of("Ravel/a.mid") == "Ravel"
    assert "expected columns" in caplog.text


def test_composer_from_piano_midi_metadata(piano_midi_dir: Path) -> None:
    index = ComposerIndex(piano_midi_dir)
    assert index.metadata_file is not None
    assert index.metadata_file.resolve() == (piano_midi_dir.parent / "metadata.csv").resolve()
    assert len(index.metadata) == 337
    assert index.composer_of("Chopin/chpn_op10_e01.mid") == "Chopin"


def test_duplicate_files_are_skipped_so_splits_cannot_leak(
    tmp_path: Path, tiny_score: Score, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "midi"
    write_corpus(root, tiny_score)
    copy = root / "Copies" / "prelude again.mid"
    copy.parent.mkdir()
    copy.write_bytes((root / "Bach" / "prelude.mid").read_bytes())
    for workers in (1, 2):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="cadenza.data.pipeline"):
            corpus = build(root, workers=workers, cache_dir=tmp_path / "cache")
        assert len(corpus) == len(LAYOUT)
        assert dict(corpus.summary.skipped) == {"duplicate": 1}
        assert corpus.summary.skipped_files[0][0] == "Copies/prelude again.mid"
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warnings == ["skipping 1 file whose content an earlier file has "
                            "(Copies/prelude again.mid)"]  # one summary; each copy at INFO
        assert any("same content as Bach/prelude.mid" in r.getMessage() for r in caplog.records)
    # A file whose content is cached under another name still gets its own name.
    (root / "Bach" / "prelude.mid").unlink()
    corpus = build(root, cache_dir=tmp_path / "cache")
    piece = next(p for p in corpus.pieces if p.path == "Copies/prelude again.mid")
    assert corpus.cache.score_hits == len(LAYOUT) and piece.score.name == "prelude again"


def test_atomic_writes_respect_the_umask_and_leave_no_temporary_files(tmp_path: Path) -> None:
    from cadenza.fileio import write_bytes_atomic

    old = os.umask(0o027)
    try:
        write_bytes_atomic(tmp_path / "new" / "entry.bin", b"one")
        write_bytes_atomic(tmp_path / "new" / "entry.bin", b"two", durable=False)
    finally:
        os.umask(old)
    target = tmp_path / "new" / "entry.bin"
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["entry.bin"]
