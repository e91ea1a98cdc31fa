"""Writing composed pieces' files: ``.mid`` (always; a track per part for an ensemble),
``.musicxml`` (an ensemble's score, a part per instrument), ``.wav`` and ``.png`` (on
request) and the ``.json`` sidecar that makes each piece again, under a name none of them
had yet.

A batch's files are written all or none (:class:`cadenza.fileio.FileSet`): a file that
cannot be written (a full disk, a folder that refuses it) stops the batch with one line
naming it and the reason, and the output folder is left as it was.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import tempfile
from pathlib import Path

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.pieces import ComposedPiece
from cadenza.composing.request import ComposeRequest
from cadenza.errors import ConfigError
from cadenza.fileio import FileSet, json_bytes
from cadenza.midi import midi_bytes, parts_midi_bytes
from cadenza.sidecar import sidecar_record
from cadenza.staves import INSTALL_HINT

log = logging.getLogger(__name__)

# Every file a piece may get: the stem is chosen so that none of them exists yet.
PIECE_FILES = (".mid", ".json", ".musicxml", ".wav", ".png", "-probabilities.png")


def unique_stem(folder: Path, stem: str, endings: tuple[str, ...] = PIECE_FILES) -> str:
    """``stem``, or ``stem-2``, ``stem-3`` ..., the first with no ``folder/STEM+ending``."""
    candidate, n = stem, 2
    while any((folder / f"{candidate}{ending}").exists() for ending in endings):
        candidate = f"{stem}-{n}"
        n += 1
    return candidate


def write_pieces(pieces: list[ComposedPiece], request: ComposeRequest,
                 loaded: LoadedCheckpoint, *, checkpoint: str | Path, primer: str) -> None:
    """Write every piece's files into ``request.out_dir``, each piece's under its own stem,
    and its sidecar (recording ``checkpoint`` and ``primer``); ``piece.files`` lists them.

    Raises:
        ConfigError: the output folder cannot be made, or a file cannot be written; then
            none of the files is left, nor a folder made for them.
    """
    made = _output_folder(request.out_dir)
    try:
        with FileSet(ConfigError) as files:
            for piece in pieces:
                piece.files = _stage_piece(files, piece, request, loaded, checkpoint, primer)
            files.commit()
    except BaseException:
        for folder in made:  # the deepest first; only while they are empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _output_folder(out: Path) -> list[Path]:
    """Make the output folder ``out``; returns the folders made, the deepest first."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; choose another output folder")
    missing = []
    folder = out
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    return missing


def _stage_piece(files: FileSet, piece: ComposedPiece, request: ComposeRequest,
                 loaded: LoadedCheckpoint, checkpoint: str | Path, primer: str) -> list[Path]:
    """Stage a piece's MIDI file, the WAV and PNG files the request asks for and its sidecar,
    under ``piece.stem`` or the first ``STEM-N`` none of whose files exists."""
    out = request.out_dir
    stem = unique_stem(out, piece.stem)  # every file of a piece under one name, none replaced
    paths = [files.add(out / f"{stem}.mid", lambda: piece_midi_bytes(piece))]
    if piece.parts is not None and request.ensemble is not None:
        if importlib.util.find_spec("music21") is not None:
            paths.append(files.add(out / f"{stem}.musicxml",
                                   lambda: ensemble_xml(piece, request)))
        else:
            log.warning("%s: no .musicxml written (the score needs music21: %s)", stem,
                        INSTALL_HINT)
    if request.wav:
        paths.append(files.add(out / f"{stem}.wav", lambda: piece_wav_bytes(piece)))
    if request.plot:
        paths += _stage_plots(files, piece, out, stem, loaded)
    record = sidecar_record(request=request, checkpoint=checkpoint, primer=primer,
                            weights_sha256=loaded.info.get("weights_sha256"), piece=piece.index)
    paths.append(files.add(out / f"{stem}.json", lambda: json_bytes(record)))
    return paths


def piece_midi_bytes(piece: ComposedPiece) -> bytes:
    """A piece's MIDI file: a track per part of its ensemble, else one track."""
    return parts_midi_bytes(piece.parts) if piece.parts is not None else midi_bytes(piece.score)


def piece_wav_bytes(piece: ComposedPiece) -> bytes:
    """A piece's WAV: an ensemble's parts each on its own instrument (its MIDI file as
    written), else the score on a piano."""
    from cadenza.audio import wav_bytes

    if piece.parts is None:
        return wav_bytes(piece.score)
    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / f"{piece.stem}.mid"
        midi.write_bytes(piece_midi_bytes(piece))
        return wav_bytes(midi)


def ensemble_xml(piece: ComposedPiece, request: ComposeRequest) -> bytes:
    """A piece's score as MusicXML, a part per instrument of the request's ensemble."""
    from cadenza.ensemblenotation import ensemble_musicxml_bytes
    from cadenza.ensembles import get_ensemble

    assert piece.parts is not None and request.ensemble is not None
    return ensemble_musicxml_bytes(piece.score, piece.parts, get_ensemble(request.ensemble))


def _stage_plots(files: FileSet, piece: ComposedPiece, out: Path, stem: str,
                 loaded: LoadedCheckpoint) -> list[Path]:
    """The piece's piano roll, and the note probabilities it was drawn from when known."""
    from cadenza import plots

    paths = [files.add(out / f"{stem}.png", lambda: plots.piano_roll_png(
        piece.score, primer_end_tick=piece.generated_start_tick, title=stem))]
    probabilities = piece.probabilities
    if probabilities is not None:
        rep_cfg = loaded.representation.config
        paths.append(files.add(out / f"{stem}-probabilities.png", lambda: plots.probabilities_png(
            probabilities, low_pitch=int(getattr(rep_cfg, "low", 21)),
            steps_per_quarter=rep_cfg.steps_per_quarter, title=f"{stem}: note probabilities",
            first_step=piece.generated_start_tick,  # the same time axis as the piano roll
        )))
    return paths
