"""MIDI files a person uploads to continue, harmonise or fill in.

Checks, in order, before a file is kept: at most :data:`MAX_UPLOAD_BYTES`, an ``MThd``
header, at most :data:`MAX_UPLOAD_NOTES` note-ons counted without parsing (a small file can
hold hundreds of thousands of notes), then cadenza's MIDI layer reads it (notes, length).
The client's file name is only shown back, cleaned; on disk an upload is
``uploads/<id>/upload.mid`` plus ``upload.json`` under the server's data folder, with an id
the server makes. At most :data:`MAX_UPLOADS` are kept; the oldest go first.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cadenza.controls import detect_key
from cadenza.errors import MidiError
from cadenza.fileio import write_bytes_atomic, write_json_atomic
from cadenza.midi import ReadOptions, check_length, parse_midi_bytes
from cadenza.midiscan import count_note_ons
from cadenza.score import TimeSignature, bar_ticks
from cadenza.web.store import is_job_id, new_id

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 1024 * 1024
MAX_UPLOAD_NOTES = 20_000  # the longest piano pieces of piano-midi.de have about 10,000
MAX_UPLOAD_QUARTERS = 4_096  # 1,024 bars of 4/4
MAX_UPLOADS = 200
UPLOADS_FOLDER = "uploads"
UPLOAD_FILE = "upload.mid"
UPLOAD_INFO = "upload.json"


class UploadError(Exception):
    """An upload refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """What the server knows of one uploaded file."""

    id: str
    name: str  # the client's file name, cleaned, for display only
    size: int
    notes: int
    bars: float
    seconds: float
    key: str
    created: float
    quarters: float = 0.0  # its length in quarter notes (0: recorded before it was kept)

    def view(self) -> dict[str, Any]:
        return asdict(self)


def clean_name(name: str | None) -> str:
    """A display name from a client's file name: its last part, plain characters only."""
    last = re.split(r"[\\/]", name or "")[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._ -]+", "_", last).strip(" .")[:80]
    return cleaned or "upload.mid"


def check_midi(data: bytes, name: str) -> Upload:
    """Check the bytes of an uploaded file and describe it (see the module's order).

    Raises:
        UploadError: 413 for too many bytes or notes, 422 for anything else wrong.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(413, f"{name}: {len(data):,} bytes, more than the "
                               f"{MAX_UPLOAD_BYTES:,} allowed")
    try:
        notes = count_note_ons(data, MAX_UPLOAD_NOTES, name)
        if notes > MAX_UPLOAD_NOTES:
            raise UploadError(413, f"{name}: more than {MAX_UPLOAD_NOTES:,} notes; upload a "
                                   "shorter piece")
        score = parse_midi_bytes(data, name)
        check_length(score, ReadOptions(max_quarters=MAX_UPLOAD_QUARTERS), name)
    except MidiError as exc:
        raise UploadError(422, str(exc)) from None
    signature = score.time_signatures[0] if score.time_signatures else TimeSignature(0, 4, 4)
    bar = bar_ticks(signature, score.ticks_per_quarter)  # of the first metre
    key = detect_key(score.notes["pitch"], score.notes["duration"])
    return Upload(id=new_id(), name=name, size=len(data), notes=score.num_notes,
                  bars=round(float(score.end_tick / bar), 2), seconds=round(score.seconds(), 2),
                  key=str(key), created=time.time(),
                  quarters=round(score.end_tick / score.ticks_per_quarter, 2))


class UploadStore:
    """Uploaded files under ``root/uploads``, looked up by id."""

    def __init__(self, root: Path, max_uploads: int = MAX_UPLOADS) -> None:
        self.root = root / UPLOADS_FOLDER
        self.max_uploads = max_uploads
        self._lock = threading.Lock()

    def add(self, data: bytes, client_name: str | None) -> Upload:
        """Check ``data`` and keep it; returns its description (see :func:`check_midi`)."""
        upload = check_midi(data, clean_name(client_name))
        folder = self.root / upload.id
        folder.mkdir(parents=True, exist_ok=False)
        try:
            write_bytes_atomic(folder / UPLOAD_FILE, data)
            write_json_atomic(folder / UPLOAD_INFO, upload.view())
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # nothing half-kept
            raise
        self._prune()
        return upload

    def get(self, upload_id: str) -> Upload | None:
        """The upload called ``upload_id`` (``None`` for an unknown or malformed id)."""
        if not is_job_id(upload_id):
            return None
        try:
            info = json.loads((self.root / upload_id / UPLOAD_INFO).read_text())
            return Upload(**info)
        except (OSError, ValueError, TypeError):
            return None

    def file(self, upload_id: str) -> Path | None:
        """The MIDI file of an upload, when it exists."""
        if not is_job_id(upload_id):
            return None
        path = self.root / upload_id / UPLOAD_FILE
        return path if path.is_file() else None

    def _prune(self) -> None:
        with self._lock:
            try:
                folders = [p for p in self.root.iterdir() if p.is_dir()]
            except OSError:
                return
            if len(folders) <= self.max_uploads:
                return
            folders.sort(key=lambda p: p.stat().st_mtime)
            for old in folders[: len(folders) - self.max_uploads]:
                shutil.rmtree(old, ignore_errors=True)
                log.info("removed old upload %s", old.name)
