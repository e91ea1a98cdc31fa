"""The primers shipped inside the package (``cadenza/assets/primers``).

They let ``cadenza generate`` run with a shipped model and no data folder, offering the
composers listed in ``index.json``. They are built by ``scripts/build_primers.py`` from the
corpus bundled with music21; the last test rebuilds one composer and checks the bytes match.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from cadenza.generation.primerbank import PrimerBank
from cadenza.midi import ReadOptions, find_midi_files, load_piece, read_midi
from cadenza.representations import NoteState, NoteStateConfig

PRIMERS = Path(str(resources.files("cadenza"))) / "assets" / "primers"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "build_primers.py"
NAMED_COMPOSERS = {"Bach", "Beethoven", "Mozart", "Haydn", "Schumann", "Chopin", "Joplin"}
STEPS_PER_BAR = 16  # 4/4 at 4 steps per quarter
MAX_BARS = 4
MIN_NOTES = 8
MAX_TOTAL_BYTES = 200_000


def load_index() -> list[dict[str, Any]]:
    entries = json.loads((PRIMERS / "index.json").read_text())
    assert isinstance(entries, list) and entries
    return entries


ENTRIES = load_index() if (PRIMERS / "index.json").is_file() else []


def test_folder_is_in_the_installed_package() -> None:
    assert PRIMERS.is_dir(), f"{PRIMERS} missing: package data not installed"
    assert (PRIMERS / "index.json").is_file()
    assert (PRIMERS / "SOURCES.md").is_file()


def test_index_and_folder_agree() -> None:
    files = [str(e["file"]) for e in ENTRIES]
    assert len(files) == len(set(files)), "duplicate file names in index.json"
    on_disk = sorted(p.name for p in find_midi_files(PRIMERS))
    assert sorted(files) == on_disk
    total = sum((PRIMERS / name).stat().st_size for name in files)
    assert total < MAX_TOTAL_BYTES


def test_composers_offered() -> None:
    composers = {str(e["composer"]) for e in ENTRIES}
    assert len(composers) >= 5
    assert "Bach" in composers
    assert composers >= NAMED_COMPOSERS, f"missing {sorted(NAMED_COMPOSERS - composers)}"


def test_every_fragment_names_its_source() -> None:
    sources_md = (PRIMERS / "SOURCES.md").read_text()
    assert "public domain" in sources_md
    for entry in ENTRIES:
        assert entry["composer"] and isinstance(entry["composer"], str)
        source = str(entry["source"])
        assert source.startswith("music21 corpus: ") and ", bars " in source, source
        assert entry["file"] in sources_md
        assert source.removeprefix("music21 corpus: ") in sources_md


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: str(e["file"]))
def test_primer_is_a_short_4_4_fragment(entry: dict[str, Any]) -> None:
    path = PRIMERS / str(entry["file"])
    raw = read_midi(path)
    assert raw.num_notes >= MIN_NOTES
    score, report = load_piece(path, ReadOptions(steps_per_quarter=4, time_signatures=("4/4",)))
    assert report.dropped_ticks == 0
    assert score.ticks_per_quarter == 4
    assert score.num_notes == raw.num_notes  # already on the 16th grid: nothing merged
    bars = int(entry["bars"])
    assert 1 <= bars <= MAX_BARS
    assert (bars - 1) * STEPS_PER_BAR < score.end_tick <= bars * STEPS_PER_BAR
    assert int(score.notes["start"].min()) == 0, "primer starts with silence"
    assert int(score.notes["pitch"].min()) >= 24
    assert int(score.notes["pitch"].max()) <= 101


def test_primers_encode_for_the_biaxial_grid() -> None:
    representation = NoteState(NoteStateConfig())
    bank = PrimerBank.from_index(PRIMERS / "index.json", representation)
    assert len(bank.primers) == len(ENTRIES)
    assert set(bank.composers()) == {str(e["composer"]) for e in ENTRIES}
    for primer in bank.primers:
        array = representation.encode(primer.score)  # (T, 78, 2)
        assert array.shape[0] % STEPS_PER_BAR == 0
        assert array[0, :, 0].any(), f"{primer.name}: no note at the first step"
        # Every note of the primer lies inside the biaxial model's 78-note range.
        assert int(array[..., 1].sum()) == primer.score.num_notes
    assert bank.choose("bach", seed=0).composer == "Bach"


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("build_primers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_primers"] = module
    spec.loader.exec_module(module)
    return module


def test_script_rebuilds_the_shipped_files(tmp_path: Path) -> None:
    pytest.importorskip("music21")
    if not SCRIPT.is_file():
        pytest.skip("build script not in this checkout")
    script = _load_script()
    shipped = [e for e in ENTRIES if e["composer"] == "Joplin"]
    assert shipped, "Joplin primers are expected"
    assert script.main(["--out", str(tmp_path), "--composers", "joplin"]) == 0
    rebuilt = json.loads((tmp_path / "index.json").read_text())
    assert rebuilt == shipped
    for entry in shipped:
        name = str(entry["file"])
        assert (tmp_path / name).read_bytes() == (PRIMERS / name).read_bytes(), name


def test_any_composer_draws_primers_in_the_models_metres_and_a_playable_tempo() -> None:
    """The shipped bank holds Chopin mazurka fragments rewritten from 3/4: a draw for any
    composer never takes them, asking for Chopin does, and says so; a bank primer's tempo is
    brought into 60-160 bpm, with a word, unless --bpm is given."""
    import cadenza
    from cadenza.composing import ComposeRequest, compose, primer_bank

    bank = primer_bank("biaxial-piano")
    assert any(p.source_meter == "3/4" for p in bank.primers)
    drawn = {bank.choose(seed=seed).name for seed in range(200)}
    assert not any(name.startswith("chopin") for name in drawn)
    chopin = compose(ComposeRequest(checkpoint="biaxial-piano", composer="Chopin", bars=1,
                                    seed=3, write_files=False))
    assert "rewritten from the source's 3/4" in chopin.primer_used
    assert "the piece at 160 bpm" in chopin.primer_used  # the source is marked 189
    piece = cadenza.compose("biaxial-piano", composer="Chopin", bars=1, seed=3)
    assert round(piece.score.tempos[0].qpm) == 160
    fast = cadenza.compose("biaxial-piano", composer="Chopin", bars=1, seed=3, bpm=189)
    assert round(fast.score.tempos[0].qpm) == 189
