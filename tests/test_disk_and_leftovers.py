"""A full disk, leftovers of killed renders and unreadable folders: handled, and said so."""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hostile_midi import deny_listing

from cadenza import audio
from cadenza import checkpoint as checkpoint_module
from cadenza.checkpoint import load_checkpoint, save_checkpoint
from cadenza.errors import CheckpointError
from cadenza.fileio import is_disk_full
from cadenza.midi import find_midi_files
from cadenza.models.registry import build_model, get_preset
from cadenza.representations import PianoRoll

DISK_FULL = OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_errors_are_recognised() -> None:
    assert is_disk_full(DISK_FULL)
    assert is_disk_full(RuntimeError("Error while serializing: IoError(Os { code: 28, kind: "
                                     "StorageFull, message: \"No space left on device\" })"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_what_to_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    model = build_model(get_preset("pianoroll-debug"))
    target = tmp_path / "checkpoints" / "step-000003"
    save_checkpoint(target, model, PianoRoll(), {"preset": "pianoroll-debug", "step": 3})

    def full(*args: Any, **kwargs: Any) -> None:
        raise DISK_FULL

    monkeypatch.setattr(checkpoint_module, "save_file", full)
    with torch.no_grad():
        for weight in model.parameters():
            weight.add_(1.0)
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(target, model, PianoRoll(), {"preset": "pianoroll-debug", "step": 6})
    message = str(info.value)
    assert "no space left on the disk" in message and "MB free" in message
    assert "MB is needed" in message and "\n" not in message
    assert [p.name for p in target.parent.iterdir()] == ["step-000003"]  # no half-written one
    assert load_checkpoint(target).info["step"] == 3


def test_leftover_render_folders_are_removed_but_not_a_running_one(tmp_path: Path) -> None:
    old = tmp_path / f"{audio.TEMP_PREFIX}old"
    fresh = tmp_path / f"{audio.TEMP_PREFIX}fresh"
    other = tmp_path / "someone-else-old"
    for folder in (old, fresh, other):
        folder.mkdir()
        (folder / "render.raw").write_bytes(b"\0" * 64)
    an_hour_ago = time.time() - 3600
    for folder in (old, other):
        os.utime(folder, (an_hour_ago, an_hour_ago))
    assert audio.remove_stale_renders(min_age=600, folder=tmp_path) == 1
    assert not old.exists() and fresh.is_dir() and other.is_dir()


def test_an_unreadable_sub_folder_is_named_in_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "a.mid").write_bytes(b"MThd")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.mid").write_bytes(b"MThd")
    deny_listing(monkeypatch, "locked")
    with caplog.at_level(logging.WARNING, logger="cadenza.midi"):
        files = find_midi_files(tmp_path)
    assert [f.name for f in files] == ["a.mid"]
    assert any("locked" in r.getMessage() and "Permission denied" in r.getMessage()
               for r in caplog.records)
