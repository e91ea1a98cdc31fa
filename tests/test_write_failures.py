"""A file that cannot be written (a full disk): one line naming it and the reason, nothing
half-made left behind, and what the user had kept as it was."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import cadenza
from cadenza import audio, fileio
from cadenza.cli import app
from cadenza.errors import ConfigError
from cadenza.fileio import FileSet

runner = CliRunner()
NO_SPACE = "No space left on device"


class _FullDisk:
    """A file handle whose write stores half the bytes, then finds the disk full."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.handle.close()

    def write(self, data: bytes) -> int:
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(errno.ENOSPC, NO_SPACE)


@pytest.fixture
def disk_full_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``disk_full_at(k)``: the k-th file written from now on (counted at its low-level
    write, 1 first) fills the disk half-way through its bytes."""
    real_fdopen = os.fdopen
    state = {"calls": 0, "fail_at": 0}

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = real_fdopen(fd, *args, **kwargs)
        state["calls"] += 1
        return _FullDisk(handle) if state["calls"] == state["fail_at"] else handle

    def arm(k: int) -> None:
        state["calls"], state["fail_at"] = 0, k

    monkeypatch.setattr(fileio.os, "fdopen", fdopen)
    return arm


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root`` (hidden ones too), files with their bytes."""
    found: dict[str, bytes | None] = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in names:
            found[os.path.relpath(os.path.join(folder, name), root)] = (
                Path(folder, name).read_bytes())
    return found


@pytest.mark.parametrize(("count", "fail_at", "failed"), [
    (1, 1, "pianoroll-piano-silence-2.mid"),
    (1, 2, "pianoroll-piano-silence-2.wav"),
    (1, 3, "pianoroll-piano-silence-2.png"),
    (1, 4, "pianoroll-piano-silence-2-probabilities.png"),
    (1, 5, "pianoroll-piano-silence-2.json"),
    (2, 7, "pianoroll-piano-silence-2.wav"),  # the second piece's: the first goes too
])
def test_generate_on_a_full_disk_says_which_file_and_leaves_the_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, disk_full_at: Callable[[int], None],
    count: int, fail_at: int, failed: str,
) -> None:
    monkeypatch.setattr(audio, "wav_bytes", lambda score, **kwargs: b"RIFF-a-rendered-piece")
    out = tmp_path / "out"
    out.mkdir()
    (out / "pianoroll-piano-silence.mid").write_bytes(b"the user's piece")
    (out / "pianoroll-piano-silence.json").write_text("the user's settings")
    before = _tree(tmp_path)
    disk_full_at(fail_at)
    result = runner.invoke(app, ["generate", "pianoroll-piano", "--no-primer", "--length", "8",
                                 "--seed", "1", "--wav", "--plot", "--count", str(count),
                                 "--out", str(out)])
    assert result.exit_code == 2, result.output
    (said,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert said.startswith(f"error: cannot write {out / failed}: {NO_SPACE} (")
    assert "MB free" in said and "Traceback" not in result.output
    assert _tree(tmp_path) == before  # no half-made file, no hidden leftover, nothing lost


def test_a_folder_made_for_the_pieces_goes_again_when_nothing_could_be_written(
    tmp_path: Path, disk_full_at: Callable[[int], None]
) -> None:
    out = tmp_path / "new" / "deeper"
    disk_full_at(1)
    result = runner.invoke(app, ["generate", "pianoroll-piano", "--no-primer", "--length", "4",
                                 "--seed", "1", "--out", str(out)])
    assert result.exit_code == 2 and "cannot write" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fail_at", [1, 2])
def test_saving_a_piece_over_the_users_files_keeps_them_when_the_disk_is_full(
    tmp_path: Path, disk_full_at: Callable[[int], None], fail_at: int
) -> None:
    piece = cadenza.compose("pianoroll-piano", length=4, seed=1, no_primer=True)
    (tmp_path / "p.mid").write_bytes(b"the user's piece")
    (tmp_path / "p.json").write_text("the user's settings")
    before = _tree(tmp_path)
    disk_full_at(fail_at)
    name = "p.mid" if fail_at == 1 else "p.json"
    with pytest.raises(ConfigError, match=f"^cannot write {tmp_path / name}: {NO_SPACE}"):
        piece.save(tmp_path / "p.mid", overwrite=True)
    assert _tree(tmp_path) == before
    disk_full_at(0)  # room again
    piece.save(tmp_path / "p.mid", overwrite=True)
    assert (tmp_path / "p.mid").read_bytes().startswith(b"MThd")


def test_a_file_set_that_fails_while_moving_into_place_removes_the_new_files_it_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace
    moved: list[str] = []

    def replace(source: Any, target: Any) -> None:
        if not str(target).endswith(".part"):  # a staged file moved into place
            if moved:
                raise OSError(errno.EIO, "Input/output error")
            moved.append(str(target))
        real_replace(source, target)

    monkeypatch.setattr(fileio.os, "replace", replace)
    refused = pytest.raises(ConfigError, match=r"cannot write .*b\.txt: Input/output error$")
    with refused, FileSet(ConfigError) as files:
        files.add(tmp_path / "a.txt", lambda: b"a")
        files.add(tmp_path / "b.txt", lambda: b"b")
        files.commit()
    assert moved == [str(tmp_path / "a.txt")] and list(tmp_path.iterdir()) == []


def test_export_on_a_full_disk_says_which_file_and_writes_none(
    tmp_path: Path, disk_full_at: Callable[[int], None]
) -> None:
    pytest.importorskip("music21")
    pytest.importorskip("verovio")
    from cadenza.midi import write_midi
    from cadenza.score import Score, make_notes

    midi = write_midi(Score(make_notes([i * 480 for i in range(8)], [480] * 8,
                                       [60 + i for i in range(8)]), 480, name="tune"),
                      tmp_path / "tune.mid")
    (tmp_path / "tune.musicxml").write_text("the user's score")
    before = _tree(tmp_path)
    disk_full_at(2)  # the MusicXML is staged; the first SVG page fills the disk
    result = runner.invoke(app, ["export", str(midi), "--musicxml", "--svg", "--overwrite"])
    assert result.exit_code == 2, result.output
    (said,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert said.startswith(f"error: cannot write {tmp_path / 'tune.svg'}: {NO_SPACE}")
    assert "Traceback" not in result.output
    assert _tree(tmp_path) == before  # the old MusicXML kept, no page, no hidden leftover
