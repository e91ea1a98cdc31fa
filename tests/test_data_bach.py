"""Exporting music21's Bach chorales to MIDI (three chorales: music21 parsing is slow)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cadenza.data import CorpusConfig, build_corpus
from cadenza.data.bach import export_bach_chorales
from cadenza.errors import ConfigError
from cadenza.midi import ReadOptions, read_folder
from cadenza.representations import PianoRoll


def test_missing_music21_gives_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "music21", None)  # makes `import music21` fail
    with pytest.raises(ConfigError, match=r"pip install 'cadenza\[music21\]'"):
        export_bach_chorales(tmp_path, limit=1)
    assert not any(tmp_path.iterdir())


def test_export_writes_readable_midi_and_never_overwrites(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    result = export_bach_chorales(tmp_path, limit=3)
    assert len(result.written) == 3 and not result.existing and not result.failed
    assert all(p.parent == tmp_path / "Bach" and p.suffix == ".mid" for p in result.written)
    scores, summary = read_folder(tmp_path, ReadOptions(time_signatures=None))
    assert summary.files_read == 3 and not summary.skipped
    for score in scores:
        # Four voices of a chorale, in a singable range.
        assert score.num_notes > 20
        assert int(score.notes["pitch"].min()) >= 30
        assert int(score.notes["pitch"].max()) <= 90
    corpus = build_corpus(tmp_path, PianoRoll(), CorpusConfig(meters=None), workers=1,
                          use_cache=False, progress=False)
    assert len(corpus) == 3 and {p.composer for p in corpus.pieces} == {"Bach"}

    # A second export leaves the files as they are, even one the user replaced.
    result.written[0].write_bytes(b"the user's own file")
    before = {p: p.read_bytes() for p in result.written}
    again = export_bach_chorales(tmp_path, limit=3)
    assert not again.written and sorted(again.existing) == sorted(result.written)
    assert {p: p.read_bytes() for p in result.written} == before


def test_limit_must_be_positive(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    with pytest.raises(ConfigError, match="limit"):
        export_bach_chorales(tmp_path, limit=0)
