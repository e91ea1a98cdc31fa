"""Writing a composed piece's files: ``.mid`` (always), ``.wav`` and ``.png`` (on request) and
the ``.json`` sidecar that makes it again, all under one name that none of them had yet."""

from __future__ import annotations

from pathlib import Path

from cadenza.checkpoint import LoadedCheckpoint
from cadenza.composing.pieces import ComposedPiece
from cadenza.composing.request import ComposeRequest
from cadenza.errors import ConfigError
from cadenza.midi import write_midi
from cadenza.sidecar import write_sidecar

# Every file a piece may get: the stem is chosen so that none of them exists yet.
PIECE_FILES = (".mid", ".json", ".wav", ".png", "-probabilities.png")


def unique_stem(folder: Path, stem: str, endings: tuple[str, ...] = PIECE_FILES) -> str:
    """``stem``, or ``stem-2``, ``stem-3`` ..., the first with no ``folder/STEM+ending``."""
    candidate, n = stem, 2
    while any((folder / f"{candidate}{ending}").exists() for ending in endings):
        candidate = f"{stem}-{n}"
        n += 1
    return candidate


def write_outputs(piece: ComposedPiece, request: ComposeRequest, stem: str,
                  loaded: LoadedCheckpoint) -> list[Path]:
    """Write ``piece``'s MIDI file, and the WAV and PNG files the request asks for, under
    ``stem`` or the first ``stem-N`` none of whose files exists; returns their paths."""
    out = request.out_dir
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; choose another output folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    stem = unique_stem(out, stem)  # every file of a piece under one name, none replaced
    files = [write_midi(piece.score, out / f"{stem}.mid")]
    if request.wav:
        from cadenza.audio import render_wav

        files.append(render_wav(piece.score, out / f"{stem}.wav"))
    if request.plot:
        from cadenza import plots

        files.append(plots.plot_piano_roll(
            piece.score, out / f"{stem}.png",
            primer_end_tick=piece.generated_start_tick, title=stem,
        ))
        if piece.probabilities is not None:
            rep_cfg = loaded.representation.config
            files.append(plots.plot_probabilities(
                piece.probabilities, out / f"{stem}-probabilities.png",
                low_pitch=int(getattr(rep_cfg, "low", 21)),
                steps_per_quarter=rep_cfg.steps_per_quarter, title=f"{stem}: note probabilities",
                first_step=piece.generated_start_tick,  # the same time axis as the piano roll
            ))
    return files


def write_piece(piece: ComposedPiece, request: ComposeRequest, loaded: LoadedCheckpoint, *,
                checkpoint: str | Path, primer: str) -> None:
    """Write ``piece``'s files and its sidecar (recording ``checkpoint`` and ``primer``) into
    ``request.out_dir``; ``piece.files`` lists them."""
    piece.files = write_outputs(piece, request, piece.stem, loaded)
    piece.files.append(write_sidecar(
        piece.files[0].with_suffix(".json"), request=request, checkpoint=checkpoint,
        weights_sha256=loaded.info.get("weights_sha256"), primer=primer, piece=piece.index))
