"""Pictures of scores and of what a model saw: piano rolls, note probabilities, LSTM states.

Figures are drawn with matplotlib's object interface on an Agg canvas (``Figure`` +
``FigureCanvasAgg``), never through ``pyplot``: nothing needs a display, no global figure
registry exists to leak figures into, and each figure is freed with its last reference. Each
picture has a ``*_png`` function returning PNG bytes (for a web server) and a ``plot_*``
function writing them atomically, refusing to replace an existing file unless asked.
matplotlib is imported only when a picture is drawn.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from cadenza.errors import ConfigError, DataError
from cadenza.fileio import write_bytes_atomic
from cadenza.score import Score

DPI = 100
PRIMER_COLOUR = "tab:blue"
GENERATED_COLOUR = "tab:orange"
PRIMER_EDGE = "#174a7e"  # darker outlines keep repeated notes of one pitch apart
GENERATED_EDGE = "#a35200"
OUTLINE_MAX_BEATS = 128.0  # longer rolls have bars too thin to outline
PRIMER_SHADE = "0.92"
START_LINE_COLOUR = "tab:red"
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI note number: 60 -> ``"C4"``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


# -- plumbing --------------------------------------------------------------------------------
def _new_figure(width: float, height: float) -> Any:
    """A figure on its own Agg canvas (no pyplot, no display)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("drawing pictures needs matplotlib; pip install matplotlib") from None
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    figure.clear()
    return buffer.getvalue()


def _check_out(out_png: str | Path, overwrite: bool) -> Path:
    out = Path(out_png)
    if out.is_dir():
        raise ConfigError(f"{out} is a folder; give a file name")
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} already exists; pass --overwrite or choose another name")
    return out


def _write(out: Path, data: bytes) -> Path:
    write_bytes_atomic(out, data)
    return out


def _pitch_ticks(ax: Any, low: float, high: float) -> None:
    """Label every C between ``low`` and ``high`` with its name."""
    cs = [p for p in range(int(np.ceil(low)), int(np.floor(high)) + 1) if p % 12 == 0]
    ax.set_yticks(cs, [pitch_name(p) for p in cs])


# -- piano roll ------------------------------------------------------------------------------
def piano_roll_png(
    score: Score, *, primer_end_tick: int | None = None, title: str | None = None
) -> bytes:
    """A piano roll of ``score`` as PNG bytes: one bar per note, pitch against beats.

    Args:
        score: any score; times are shown in quarter notes (beats) from its start.
        primer_end_tick: where generated music begins (in the score's ticks). Notes starting
            before it are drawn in the primer colour over a shaded background, the others in
            the generated colour, with a vertical line at that point. ``None``: one colour.
        title: a title above the roll.
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    tpq = score.ticks_per_quarter
    notes = score.notes
    figure = _new_figure(12.0, 5.0)
    ax = figure.add_subplot()
    start = notes["start"].astype(np.float64) / tpq  # (N,) beats
    end = start + np.maximum(notes["duration"], 1).astype(np.float64) / tpq
    pitch = notes["pitch"].astype(np.float64)
    span_end = float(end.max()) if len(notes) else 4.0
    primer_beat = None if primer_end_tick is None else primer_end_tick / tpq
    if primer_beat is not None:
        ax.axvspan(0.0, primer_beat, color=PRIMER_SHADE, zorder=0)
        ax.axvline(primer_beat, color=START_LINE_COLOUR, linewidth=1.5, zorder=3)
        span_end = max(span_end, primer_beat)
    bottom, top = pitch - 0.4, pitch + 0.4
    verts = np.stack(  # (N, 4, 2): the corners of each bar
        [np.stack(corner, axis=1) for corner in
         ((start, bottom), (end, bottom), (end, top), (start, top))],
        axis=1,
    )
    if primer_end_tick is None:
        is_primer = np.ones(len(notes), dtype=bool)
    else:
        is_primer = notes["start"] < primer_end_tick
    ax.add_collection(
        PolyCollection(
            list(verts),
            facecolors=list(np.where(is_primer, PRIMER_COLOUR, GENERATED_COLOUR)),
            edgecolors=list(np.where(is_primer, PRIMER_EDGE, GENERATED_EDGE)),
            linewidths=0.5 if span_end <= OUTLINE_MAX_BEATS else 0.0,
            zorder=2,
        )
    )
    if len(notes):
        low, high = float(pitch.min()) - 2.0, float(pitch.max()) + 2.0
    else:
        low, high = 58.0, 74.0
        ax.text(0.5, 0.5, "no notes", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlim(0.0, span_end * 1.01)
    ax.set_ylim(low, high)
    _pitch_ticks(ax, low, high)
    ax.grid(color="0.85", linewidth=0.5, zorder=1)
    ax.set_axisbelow(True)
    ax.set_xlabel("time (beats)")
    ax.set_ylabel("pitch")
    if primer_beat is not None:
        ax.legend(
            handles=[
                Patch(color=PRIMER_COLOUR, label="primer"),
                Patch(color=GENERATED_COLOUR, label="generated"),
            ],
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),  # outside the roll: never hides a note
            fontsize=8,
        )
    ax.set_title(title or score.name or "piano roll")
    return _png(figure)


def plot_piano_roll(
    score: Score,
    out_png: str | Path,
    *,
    primer_end_tick: int | None = None,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write :func:`piano_roll_png` to ``out_png``; returns the path.

    Raises:
        ConfigError: ``out_png`` exists and ``overwrite`` is false.
    """
    out = _check_out(out_png, overwrite)
    return _write(out, piano_roll_png(score, primer_end_tick=primer_end_tick, title=title))


# -- note probabilities ----------------------------------------------------------------------
def probabilities_png(
    probs: np.ndarray,
    *,
    low_pitch: int,
    steps_per_quarter: int,
    title: str | None = None,
    first_step: int = 0,
) -> bytes:
    """An image of note probabilities over time, as the sampler drew from them.

    Args:
        probs: ``(T, K)`` probabilities in 0..1, one row per time step, one column per key.
        low_pitch: MIDI pitch of column 0 (the lowest key, drawn at the bottom).
        steps_per_quarter: time steps per beat, for the time axis.
        title: a title above the image.
        first_step: the step of row 0 (e.g. where generation began), so the axis lines up
            with a piano roll of the whole piece.

    Raises:
        DataError: ``probs`` is not a non-empty 2-D array of finite values in 0..1.
        ConfigError: ``steps_per_quarter`` is not positive.
    """
    array = np.asarray(probs, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"probabilities must be a non-empty (time, keys) array, got {array.shape}")
    if not np.isfinite(array).all():
        raise DataError("probabilities must be finite, got NaN or infinite values")
    if array.min() < -1e-6 or array.max() > 1.0 + 1e-6:
        raise DataError(
            f"probabilities must be within 0..1, got {array.min():.3g}..{array.max():.3g}"
        )
    if steps_per_quarter <= 0:
        raise ConfigError(f"steps_per_quarter must be positive, got {steps_per_quarter}")
    steps, keys = array.shape
    figure = _new_figure(12.0, 5.0)
    ax = figure.add_subplot()
    x0 = first_step / steps_per_quarter
    x1 = (first_step + steps) / steps_per_quarter
    image = ax.imshow(
        array.T,  # (K, T): keys on the y axis
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        cmap="magma",
        vmin=0.0,
        vmax=1.0,
        extent=(x0, x1, low_pitch - 0.5, low_pitch + keys - 0.5),
    )
    _pitch_ticks(ax, low_pitch - 0.5, low_pitch + keys - 0.5)
    ax.set_xlabel("time (beats)")
    ax.set_ylabel("pitch")
    ax.set_title(title or "note probabilities")
    figure.colorbar(image, ax=ax, label="probability of playing")
    return _png(figure)


def plot_probabilities(
    probs: np.ndarray,
    out_png: str | Path,
    *,
    low_pitch: int,
    steps_per_quarter: int,
    title: str | None = None,
    first_step: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write :func:`probabilities_png` to ``out_png``; returns the path.

    Raises:
        ConfigError: ``out_png`` exists and ``overwrite`` is false.
    """
    out = _check_out(out_png, overwrite)
    data = probabilities_png(
        probs, low_pitch=low_pitch, steps_per_quarter=steps_per_quarter, title=title,
        first_step=first_step,
    )
    return _write(out, data)


# -- LSTM activations ------------------------------------------------------------------------
def activations_png(
    layers: list[tuple[str, np.ndarray, np.ndarray]], *, title: str | None = None
) -> bytes:
    """Hidden activations and memory cells of LSTM layers over time, one row per layer.

    Args:
        layers: ``(name, hidden, cells)`` per layer, ``hidden`` and ``cells`` both ``(T, H)``
            (time steps by units). Hidden values lie in -1..1 and share that colour scale;
            each layer's cells get a symmetric scale of their own largest magnitude.
        title: a title above the rows.

    Raises:
        DataError: no layers, or a layer whose arrays are not matching non-empty 2-D arrays.
    """
    if not layers:
        raise DataError("activations: expected at least one (name, hidden, cells) layer")
    checked: list[tuple[str, np.ndarray, np.ndarray]] = []
    for name, hidden, cells in layers:
        h = np.asarray(hidden, dtype=np.float64)
        c = np.asarray(cells, dtype=np.float64)
        if h.ndim != 2 or h.shape != c.shape or h.size == 0:
            raise DataError(
                f"layer {name!r}: hidden and cells must be equal non-empty (time, units) "
                f"arrays, got {h.shape} and {c.shape}"
            )
        if not (np.isfinite(h).all() and np.isfinite(c).all()):
            raise DataError(f"layer {name!r}: activations hold NaN or infinite values")
        checked.append((name, h, c))
    figure = _new_figure(12.0, 1.0 + 2.4 * len(checked))
    axes = figure.subplots(len(checked), 2, squeeze=False)
    for row, (name, h, c) in enumerate(checked):
        cell_limit = max(float(np.abs(c).max()), 1e-6)
        for ax, values, limit, label in (
            (axes[row, 0], h, 1.0, "hidden"),
            (axes[row, 1], c, cell_limit, "cells"),
        ):
            image = ax.imshow(
                values.T,  # (H, T): units on the y axis
                origin="lower",
                aspect="auto",
                interpolation="nearest",
                cmap="RdBu_r",
                vmin=-limit,
                vmax=limit,
            )
            ax.set_title(f"{name}: {label}", fontsize=9)
            ax.set_ylabel("unit", fontsize=8)
            ax.tick_params(labelsize=7)
            figure.colorbar(image, ax=ax)
        if row == len(checked) - 1:
            axes[row, 0].set_xlabel("time step", fontsize=8)
            axes[row, 1].set_xlabel("time step", fontsize=8)
    if title:
        figure.suptitle(title)
    return _png(figure)


def plot_activations(
    layers: list[tuple[str, np.ndarray, np.ndarray]],
    out_png: str | Path,
    *,
    title: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write :func:`activations_png` to ``out_png``; returns the path.

    Raises:
        ConfigError: ``out_png`` exists and ``overwrite`` is false.
    """
    out = _check_out(out_png, overwrite)
    return _write(out, activations_png(layers, title=title))
