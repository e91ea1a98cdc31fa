"""The trainer's writes under hostile conditions: a run folder that turns read-only or a disk
that fills up (emulated, so that the tests also hold for root, whom chmod does not stop),
a damaged log on resume, and pointers that lead out of their run folder."""

from __future__ import annotations

import builtins
import csv
import errno
import io
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cadenza.checkpoint import load_checkpoint, resolve_checkpoint
from cadenza.errors import CadenzaError, ConfigError
from cadenza.generation.primerbank import Primer
from cadenza.midi import write_midi
from cadenza.models.base import SequenceModel
from cadenza.representations.base import Representation
from cadenza.score import Score, TimeSignature, make_notes
from cadenza.training import Trainer
from tests.test_training import _train_losses, _trainer

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class RefusedWrites:
    """While ``on``, every write under ``folder`` whose path ``refuse`` accepts fails with
    ``OSError(code)``: files opened for writing, folders made, files renamed into place.

    The operating system's own calls are patched, not cadenza's, so whatever route a writer
    takes it meets the same wall a read-only folder or a full disk would put up.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, folder: Path, code: int,
                 refuse: Callable[[Path], bool] = lambda path: True) -> None:
        self.folder = folder.resolve()
        self.code = code
        self.refuse = refuse
        self.on = False
        self.refused: list[Path] = []
        real_open, real_os_open = builtins.open, os.open
        real_mkdir, real_replace, real_rename = os.mkdir, os.replace, os.rename

        def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, (str, Path)) and any(c in mode for c in "wax+"):
                self._check(file)
            return real_open(file, mode, *args, **kwargs)

        def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & WRITE_FLAGS:
                self._check(path)
            return real_os_open(path, flags, *args, **kwargs)

        def guarded_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
            if not os.path.lexists(path):  # an existing folder: EEXIST, as the system says
                self._check(path)
            real_mkdir(path, *args, **kwargs)

        def guarded_move(real: Callable[..., None]) -> Callable[..., None]:
            def move(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
                self._check(source)
                self._check(target)
                real(source, target, *args, **kwargs)
            return move

        monkeypatch.setattr(builtins, "open", guarded_open)
        monkeypatch.setattr(io, "open", guarded_open)
        monkeypatch.setattr(os, "open", guarded_os_open)
        monkeypatch.setattr(os, "mkdir", guarded_mkdir)
        monkeypatch.setattr(os, "replace", guarded_move(real_replace))
        monkeypatch.setattr(os, "rename", guarded_move(real_rename))

    def _check(self, path: Any) -> None:
        target = Path(os.fsdecode(path)).absolute()
        if self.on and target.is_relative_to(self.folder) and self.refuse(target):
            self.refused.append(target)
            raise OSError(self.code, os.strerror(self.code), str(target))


def _turn_on_at_update(trainer: Trainer, refused: RefusedWrites, update: int) -> None:
    """Switch ``refused`` on as the trainer draws the batch of update number ``update``
    (1-based): everything it wrote after update ``update - 1`` went through."""
    draw = trainer.train_batches.training_batch
    count = 0

    def counting(rng: np.random.Generator) -> dict[str, Any]:
        nonlocal count
        count += 1
        if count == update:
            refused.on = True
        return draw(rng)

    trainer.train_batches.training_batch = counting  # type: ignore[method-assign]


def _leftovers(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if ".tmp" in p.name or ".old-" in p.name]


def _latest_step(run: Path) -> int:
    return int(json.loads((run / "latest.json").read_text())["step"])


def _stopped(trainer: Trainer, error: type[Exception] = ConfigError) -> str:
    """``trainer.fit()``, which must fail with ``error``: its message, one line."""
    with pytest.raises(error) as failure:
        trainer.fit()
    message = str(failure.value)
    assert "\n" not in message
    return message


def test_a_run_folder_made_read_only_at_the_log_stops_training_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trainer(tmp_path / "whole", steps=8).fit()
    run = tmp_path / "run"
    refused = RefusedWrites(monkeypatch, run, errno.EROFS)
    trainer = _trainer(run, steps=8)
    _turn_on_at_update(trainer, refused, 5)  # checkpoint at 3; log rows 1-4 written
    message = _stopped(trainer)
    assert str(run / "log.csv") in message and "Read-only file system" in message
    assert "step 5" in message and "step 3" in message  # where it stopped, what it kept
    assert refused.refused[0] == (run / "log.csv").absolute()
    refused.on = False
    assert _latest_step(run) == 3 and load_checkpoint(run).step == 3
    assert not _leftovers(run)
    with open(run / "log.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert [row[0] for row in rows[1:] if row[1] == "train"] == ["1", "2", "3", "4"]
    # Once the folder can be written again, --resume goes on as if nothing had happened.
    _trainer(run, steps=8).fit(resume=True)
    np.testing.assert_allclose(_train_losses(run), _train_losses(tmp_path / "whole"), rtol=1e-6)


def test_a_log_row_half_written_on_a_full_disk_is_taken_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    trainer = _trainer(run, steps=6)
    real_open = builtins.open
    log_file = (run / "log.csv").absolute()
    writes = 0

    class Filling(io.FileIO):
        """Writes the first bytes of the 5th row, then finds the disk full."""

        def write(self, data: Any) -> int:
            super().write(bytes(data)[:7])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def filling_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        nonlocal writes
        if isinstance(file, (str, Path)) and Path(file).absolute() == log_file and "a" in mode:
            writes += 1
            if writes >= 5:
                raw = Filling(file, "a")
                if "b" in mode:
                    return raw
                return io.TextIOWrapper(raw, encoding="utf-8", newline=kwargs.get("newline"),
                                        write_through=True)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", filling_open)
    monkeypatch.setattr(io, "open", filling_open)
    assert "no space left on the disk" in _stopped(trainer)
    monkeypatch.undo()
    text = (run / "log.csv").read_text()
    # The header, train rows 1-3 and valid row 2: nothing of row 4 (train) is left.
    assert text.endswith("\n") and len(text.splitlines()) == 1 + 3 + 1


@pytest.mark.parametrize("fresh_folder", [True, False], ids=["new-out", "empty-out"])
def test_a_full_disk_at_the_start_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_folder: bool
) -> None:
    run = tmp_path / "run"
    if not fresh_folder:
        run.mkdir()
    refused = RefusedWrites(monkeypatch, tmp_path, errno.ENOSPC,
                            refuse=lambda path: path != tmp_path.resolve() / "run")
    refused.on = True
    message = _stopped(_trainer(run, steps=3))
    assert str(run / "run.json") in message and "no space left on the disk" in message
    refused.on = False
    assert run.is_dir() == (not fresh_folder)  # made for this run: removed again
    assert not fresh_folder or not run.exists()
    assert fresh_folder or not any(run.iterdir())
    _trainer(run, steps=3).fit()  # a new attempt needs no --resume
    assert _latest_step(run) == 3


def _primers() -> list[Primer]:
    score = Score(make_notes(np.arange(0, 32, 2), np.full(16, 2), 60 + np.arange(16) % 12), 4,
                  time_signatures=(TimeSignature(0, 4, 4),))
    return [Primer(f"piece {i}", "Someone", score, f"piece{i}.mid") for i in range(3)]


def test_a_full_disk_at_the_primer_bank_takes_the_run_record_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    trainer = _trainer(run, steps=3)
    trainer.primers = _primers()
    RefusedWrites(monkeypatch, run, errno.ENOSPC, lambda path: "primers" in path.name).on = True
    message = _stopped(trainer)
    assert str(run / "primers") in message and "no space left on the disk" in message
    assert not run.exists()  # neither run.json nor a half-made primer bank is left
    monkeypatch.undo()
    trainer = _trainer(run, steps=3)
    trainer.primers = _primers()
    trainer.fit()
    assert (run / "primers" / "index.json").is_file()


@pytest.mark.parametrize("target", ["checkpoints", "latest.json"])
def test_a_checkpoint_or_pointer_that_cannot_be_written_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    run = tmp_path / "run"
    refused = RefusedWrites(monkeypatch, run, errno.EROFS,
                            refuse=lambda path: target in path.parts or target in path.name)
    trainer = _trainer(run, steps=8, checkpoint_every=2, log_every=0, eval_every=0)
    _turn_on_at_update(trainer, refused, 3)  # the checkpoint of step 4 fails
    message = _stopped(trainer, CadenzaError)
    assert "Read-only file system" in message and "step 4" in message
    assert str(run / target) in message
    refused.on = False
    assert _latest_step(run) == 2 and load_checkpoint(run / "checkpoints" / "step-000002")
    assert not _leftovers(run)
    assert (run / "checkpoints" / "step-000004").exists() == (target == "latest.json")
    assert not (run / "checkpoints" / "step-000006").exists()  # training stopped


def _writing_sampler(model: SequenceModel, rep: Representation, step: int, out: Path) -> None:
    score = Score(make_notes(np.array([0]), np.array([4]), np.array([60])), 4)
    write_midi(score, out, overwrite=True)


def test_a_sample_that_cannot_be_written_stops_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    refused = RefusedWrites(monkeypatch, run, errno.ENOSPC,
                            refuse=lambda path: "samples" in path.parts)
    trainer = _trainer(run, steps=6, sample_every=2)
    trainer.sample_fn = _writing_sampler
    _turn_on_at_update(trainer, refused, 4)
    message = _stopped(trainer)
    assert str(run / "samples" / "step-000004.mid") in message
    assert "no space left on the disk" in message and "step 3" in message
    refused.on = False
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-000002.mid"]
    assert _latest_step(run) == 3


def test_a_sample_that_fails_otherwise_is_only_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(model: SequenceModel, rep: Representation, step: int, out: Path) -> None:
        raise RuntimeError("the model produced nothing")

    trainer = _trainer(tmp_path / "run", steps=4, sample_every=2)
    trainer.sample_fn = broken
    with caplog.at_level(logging.WARNING):
        assert trainer.fit().steps_done == 4
    assert "could not write sample at step 2: the model produced nothing" in caplog.text


def test_resume_skips_log_lines_that_are_not_utf8(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _trainer(tmp_path / "whole", steps=8).fit()
    run = tmp_path / "run"
    _trainer(run, steps=6, checkpoint_every=3).fit()
    lines = (run / "log.csv").read_bytes().splitlines(keepends=True)
    lines[2] = b"2,train,\xff\xfe0.5,0.003,\r\n"  # a row of step 2, damaged
    lines.insert(4, b"\x80\x81garbage\r\n")
    (run / "log.csv").write_bytes(b"".join(lines))
    with caplog.at_level(logging.WARNING):
        _trainer(run, steps=8).fit(resume=True)
    notes = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(notes) == 1  # one line for the whole file
    assert notes[0].startswith(f"{run / 'log.csv'}: skipped 2 damaged line(s)")
    whole = _train_losses(tmp_path / "whole")
    # Step 2's row is lost, nothing else.
    np.testing.assert_allclose(_train_losses(run), [whole[0], *whole[2:]], rtol=1e-6)


def _two_runs(tmp_path: Path) -> tuple[Path, Path]:
    mine, other = tmp_path / "mine", tmp_path / "other"
    _trainer(mine, steps=3, checkpoint_every=3).fit()
    _trainer(other, steps=6, checkpoint_every=6, lr=1e-2).fit()
    return mine, other


@pytest.mark.parametrize("form", ["absolute", "climbing out"])
def test_a_pointer_out_of_its_run_folder_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, form: str
) -> None:
    mine, other = _two_runs(tmp_path)
    elsewhere = other / "checkpoints" / "step-000006"
    named = str(elsewhere) if form == "absolute" else "../other/checkpoints/step-000006"
    (mine / "best.json").write_text(json.dumps({"checkpoint": named, "step": 6}))
    with caplog.at_level(logging.WARNING):
        found = resolve_checkpoint(mine)
    assert found == mine / "checkpoints" / "step-000003"  # latest.json, not the other run
    assert f"{mine / 'best.json'}: names {named}, outside its run folder; ignored" in caplog.text
    # On --resume a latest.json naming another run's checkpoint is replaced by this run's.
    (mine / "latest.json").write_text(json.dumps({"checkpoint": named, "step": 6}))
    said: list[str] = []
    trainer = _trainer(mine, steps=4, checkpoint_every=3)
    trainer.print_fn = said.append
    summary = trainer.fit(resume=True)
    assert summary.start_step == 3 and summary.steps_done == 4
    assert "latest.json named nothing usable; resuming from the newest intact checkpoint " \
           "instead" in said
    assert json.loads((mine / "latest.json").read_text())["checkpoint"] == "checkpoints/step-000004"
