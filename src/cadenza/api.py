"""The Python API: load a model, compose a piece, save, render and draw it.

>>> import cadenza
>>> piece = cadenza.compose(bars=4, key="D minor", seed=1)   # the default shipped model
>>> piece.save("out/piece.mid")                               # also out/piece.json
>>> piece.to_wav("out/piece.wav"); piece.plot("out/piece.png")

``cadenza generate``, ``cadenza harmonise`` and the web server compose through this module
too: :func:`compose_request` is the one place a request is made from options
(:class:`cadenza.composing.ComposeRequest` checks them; :func:`generate_request` takes them
as ``cadenza generate`` names them), :func:`compose_files` composes and writes files,
:func:`compose` keeps the piece in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cadenza import composing
from cadenza.checkpoint import LoadedCheckpoint
from cadenza.errors import ConfigError, MidiError
from cadenza.fileio import FileSet, json_bytes
from cadenza.midi import midi_bytes, parts_midi_bytes
from cadenza.score import Score
from cadenza.sidecar import replay_request, sidecar_record

__all__ = ["Piece", "compose", "compose_files", "compose_request", "harmonise", "load",
           "styles"]


def load(name_or_path: str | Path | None = None) -> LoadedCheckpoint:
    """A model: a shipped name (``"biaxial-piano"``), a run or checkpoint folder, or ``None``
    for the default shipped model. Loaded once and cached."""
    return composing.load(name_or_path)


def styles(model: str | Path | LoadedCheckpoint | None = None) -> list[str]:
    """The styles a model composes in (``compose(style=...)``); ``None``: the shipped
    style-conditioned model (``biaxial-styles``). Empty for a model trained without styles."""
    return composing.list_styles(model.path if isinstance(model, LoadedCheckpoint) else model)


@dataclass
class Piece:
    """A composed piece: its score, where the generated part starts, and how it was made."""

    score: Score
    generated_start_tick: int
    seed: int
    primer: str
    request: composing.ComposeRequest
    model: LoadedCheckpoint
    index: int = 0
    parts: list[Score] | None = None  # with an ensemble: one score per part, highest first

    @property
    def notes(self) -> np.ndarray:
        """The notes: a structured array with ``start``, ``duration`` (in ticks of
        ``score.ticks_per_quarter`` per quarter note), ``pitch`` and ``velocity``."""
        return self.score.notes

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the MIDI file, and beside it the ``.json`` that makes the piece again: both
        or neither (a file that cannot be written raises :class:`ConfigError` naming it and
        the reason, and the files that were there are kept)."""
        path = Path(path)
        sidecar = path.with_suffix(".json")
        if sidecar.exists() and not overwrite:
            raise ConfigError(f"{sidecar} already exists; pass overwrite=True or another path")
        if path.exists() and not overwrite:
            raise MidiError(path, "exists", "refusing to overwrite; choose another name")
        record = sidecar_record(request=self.request, checkpoint=self.model.path,
                                weights_sha256=self.model.info.get("weights_sha256"),
                                primer=self.primer, piece=self.index)
        with FileSet(ConfigError) as files:
            files.add(path, lambda: midi_bytes(self.score) if self.parts is None
                      else parts_midi_bytes(self.parts))
            files.add(sidecar, lambda: json_bytes(record))
            files.commit()
        return path

    def to_musicxml(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the score as MusicXML: a part per instrument of its ensemble, else a piano
        score (needs music21: ``pip install 'cadenza[notation]'``)."""
        from cadenza.ensemblenotation import ensemble_musicxml_bytes
        from cadenza.ensembles import get_ensemble
        from cadenza.fileio import write_bytes_atomic
        from cadenza.notation import musicxml_bytes

        path = Path(path)
        if path.exists() and not overwrite:
            raise ConfigError(f"{path} already exists; pass overwrite=True or another path")
        ensemble = self.request.ensemble
        data = (musicxml_bytes(self.score) if ensemble is None or self.parts is None else
                ensemble_musicxml_bytes(self.score, self.parts, get_ensemble(ensemble)))
        write_bytes_atomic(path, data)
        return path

    def to_wav(self, path: str | Path, overwrite: bool = False) -> Path:
        """Render through FluidSynth and a General MIDI SoundFont (an ensemble's parts each
        on its own instrument)."""
        import tempfile

        from cadenza.audio import render_wav

        if self.parts is None:
            return render_wav(self.score, Path(path), overwrite=overwrite)
        with tempfile.TemporaryDirectory() as tmp:
            midi = Path(tmp) / "parts.mid"
            midi.write_bytes(parts_midi_bytes(self.parts))
            return render_wav(midi, Path(path), overwrite=overwrite)

    def plot(self, path: str | Path, overwrite: bool = False) -> Path:
        """A PNG piano roll, the primer and the generated part in their own colours."""
        from cadenza.plots import plot_piano_roll

        return plot_piano_roll(self.score, Path(path), primer_end_tick=self.generated_start_tick,
                               title=Path(path).stem, overwrite=overwrite)


def harmonise(
    melody: str | Path,
    model: str | Path | LoadedCheckpoint | None = None,
    *,
    below_only: bool = False,
    voice: str = "all",
    **options: Any,
) -> Piece:
    """Keep ``melody`` (a MIDI file; ``voice="top"`` takes its highest voice) note for note
    and compose every other note around it with a grid model. ``options`` are those of
    :func:`compose` (``key``, ``ending``, ``seed``, ``temperature``, ...)."""
    return compose(model, melody=melody, below_only=below_only, voice=voice, **options)


def compose_request(
    model: str | Path | LoadedCheckpoint | None = None,
    *,
    primer: str | Path | None = None,
    melody: str | Path | None = None,
    **options: Any,
) -> composing.ComposeRequest:
    """The composing request for ``model`` and ``options`` (the fields of
    :class:`cadenza.composing.ComposeRequest`; ``primer`` and ``melody`` name MIDI files).

    Raises:
        ConfigError: an option is unknown or out of range (the message names it).
    """
    checkpoint = model.path if isinstance(model, LoadedCheckpoint) else model
    if primer is not None:
        options["primer_file"] = Path(primer)
    if melody is not None:
        options["melody_file"] = Path(melody)
    try:
        return composing.ComposeRequest(checkpoint=checkpoint, **options)
    except TypeError as exc:  # an unknown keyword
        raise ConfigError(f"unknown composing option: {exc}") from None


def generate_request(
    checkpoint: str | Path | None = None, *, out: str | Path = "out", velocity: str = "model",
    no_adaptive: bool = False, candidates: int = 4, replay: str | Path | None = None,
    wav: bool = False, plot: bool = False, threads: int | None = None, **options: Any,
) -> composing.ComposeRequest:
    """The request that ``cadenza generate``'s options ask for, by their names there:
    ``out`` (the output folder), ``velocity`` (``"model"`` or a MIDI velocity),
    ``no_adaptive``, ``candidates`` (infill's), ``primer``, and the other fields of
    :class:`cadenza.composing.ComposeRequest`. With ``replay`` (a piece's ``.json``
    sidecar), the request it saved, written to ``out`` with ``wav``, ``plot`` and ``threads``
    as given.

    Raises:
        ConfigError: an option is unknown or out of range, or the sidecar is not one.
    """
    fixed = None if velocity == "model" else _velocity(velocity)
    if replay is not None:
        return replay_request(replay, composing.ComposeRequest, out_dir=out, wav=wav, plot=plot,
                              threads=threads)
    return compose_request(checkpoint, out_dir=out, velocity=fixed, adaptive=not no_adaptive,
                           infill_candidates=candidates, wav=wav, plot=plot, threads=threads,
                           **options)


def _velocity(text: str) -> int:
    """``--velocity N`` as an int (a one-line error otherwise)."""
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--velocity must be 'model' or a MIDI velocity 1..127, "
                          f"got {text!r}") from None


def compose_files(
    model: str | Path | LoadedCheckpoint | None = None, **options: Any
) -> composing.ComposeResult:
    """Compose ``count`` pieces (default 1) and write each one's files into ``out_dir``:
    the MIDI file, the ``.json`` that makes it again, and the WAV and PNG files asked for
    with ``wav=True`` and ``plot=True``. Nothing that exists is overwritten."""
    return composing.compose(compose_request(model, **options))


def compose(
    model: str | Path | LoadedCheckpoint | None = None,
    *,
    bars: int = 16,
    primer: str | Path | None = None,
    composer: str | None = None,
    key: str | None = None,
    key_strength: float = 1.0,
    pitch_range: str | None = None,
    seed: int | None = None,
    temperature: float | None = None,
    velocity: int | None = None,
    ensemble: str | None = None,
    style: str | None = None,
    style_strength: float | None = None,
    **options: Any,
) -> Piece:
    """Compose one piece.

    Args:
        model: what :func:`load` takes, or a loaded model (default: the shipped default).
        bars: length after the primer, in 4/4 bars.
        primer: a MIDI file to continue; ``composer``: or a held-out piece by this composer
            (default: any held-out piece); neither with ``no_primer=True``.
        key, key_strength, pitch_range: composing controls (grid families; see
            :mod:`cadenza.controls`): ``key="D minor"``, ``pitch_range="C2-C6"``.
        seed: the same seed gives the same piece (default: drawn, and kept in ``piece.seed``).
        temperature: > 1 bolder, < 1 more conservative (default: the model's calibrated
            temperature, else 1).
        velocity: every note at this MIDI velocity (default: as the model says).
        ensemble: ``"satb"``, ``"quartet"`` or ``"piano"``: the notes are shared among the
            ensemble's instruments by voice leading (``piece.parts``: a score each, with
            its General MIDI program; ``piece.save`` writes a track each,
            ``piece.to_musicxml`` a part each). With no ``model``, SATB uses the shipped
            chorale model. See :mod:`cadenza.ensembles` and :mod:`cadenza.voicing`.
        style: compose in this style (a model trained with ``--style-from``, see
            :func:`styles`; with no ``model``, the shipped ``biaxial-styles``). Without a
            ``primer`` or ``composer`` the piece starts from silence. An unknown style raises
            :class:`ConfigError` naming the model's styles.
        style_strength: with a ``style``, 0..8: how far the style is pushed from the centre
            of the model's styles (1: as trained; > 1 exaggerates what sets it apart;
            default: the model's calibrated strength, else 1).
        options: any other field of :class:`cadenza.composing.ComposeRequest`
            (``threshold``, ``top_k``, ``max_hold_steps``, ``bpm``, ``ending``, ``form``,
            ``program``, ...).
    """
    request = compose_request(
        model, bars=bars, primer=primer, composer=composer, key=key, key_strength=key_strength,
        pitch_range=pitch_range, seed=seed, temperature=temperature, velocity=velocity,
        ensemble=ensemble, style=style, style_strength=style_strength, write_files=False,
        **options)
    result = composing.compose(request)
    if result.seed is None:  # compose always draws one
        raise ConfigError("composing returned no seed")
    piece = result.pieces[0]
    used = replace(request, seed=result.seed, checkpoint=result.checkpoint)
    return Piece(piece.score, piece.generated_start_tick, result.seed, result.primer_source,
                 used, composing.load(result.checkpoint), piece.index, piece.parts)
