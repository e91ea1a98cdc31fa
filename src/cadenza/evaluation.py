"""Compare a generated set of pieces with a reference set, after Yang & Lerch (2018).

"On the evaluation of generative models in music" judges a set by distances, not by raw
values. For each metric (a float per piece):

* intra-set distances of a set are ``|m_i - m_j|`` over its unordered pairs ``i < j``;
* inter-set distances are ``|g - r|`` over every (generated, reference) pair;
* each sample of distances becomes a probability density by Gaussian kernel density
  estimation (bandwidth from Scott's rule, see :func:`bandwidth`);
* as in the paper, each set's intra-set density is compared with the inter-set density by
  the overlapping area (OA, ``∫ min(p, q)``, 0 to 1, higher is closer) and the
  Kullback-Leibler divergence ``KL(intra || inter)`` (nats, 0 is identical).

The reference-side pair (intra-reference vs inter) is the headline: when generated pieces
lie as close to the reference pieces as those lie to each other, OA is near 1 and KLD near
0. The generated-side pair (intra-generated vs inter) is reported too.

Degenerate cases never produce NaN. A set of one piece has no intra-set pair, so its OA and
KLD are ``None`` (JSON ``null``). A constant sample (zero variance, e.g. every distance 0)
gets the bandwidth floor, a narrow bump: two identical constant samples give OA 1, KLD 0.
KLD is finite because both densities are floored at :data:`DENSITY_FLOOR` of the grid mass.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cadenza.errors import DataError
from cadenza.fileio import write_bytes_atomic
from cadenza.metrics.timeline import bars
from cadenza.score import GENERATED_MARKER, MARKER_PITCH, Score, Tempo, TimeSignature

GRID_POINTS = 1024  # points of the shared grid densities are evaluated on
MIN_BANDWIDTH_SHARE = 0.01  # bandwidth floor, as a share of the pooled range of the samples
GRID_MARGIN = 4.0  # the grid reaches this many bandwidths past the samples
DENSITY_FLOOR = 1e-10  # least probability mass of a grid cell in the KL divergence
ROUNDING_NOISE = 1e-12  # a KL divergence below this is reported as 0


# -- the generated part of a piece -----------------------------------------------------------
def generated_part(score: Score) -> Score:
    """``score`` without the primer it continues, when it carries cadenza's start marker.

    Generated MIDI files mark where new music begins with a text marker (and sometimes a
    one-step note of pitch 108 there). Notes starting before the marker and that marker note
    are dropped; the rest moves back to the bar line at or before the marker, so bar
    positions are kept. A score without the marker is returned unchanged.
    """
    marks = [m.tick for m in score.markers if m.text == GENERATED_MARKER]
    if not marks:
        return score
    start = min(marks)
    bar_starts = bars(score)[:, 0]
    origin = int(bar_starts[bar_starts <= start].max()) if (bar_starts <= start).any() else 0
    notes = score.notes
    marker_note = (notes["pitch"] == MARKER_PITCH) & (notes["start"] == start)
    kept = notes[(notes["start"] >= start) & ~marker_note].copy()
    kept["start"] -= origin
    return score.copy_with(
        notes=kept,
        tempos=_shift_events(score.tempos, origin, lambda t, tick: Tempo(tick, t.qpm)),
        time_signatures=_shift_events(
            score.time_signatures, origin,
            lambda s, tick: TimeSignature(tick, s.numerator, s.denominator)),
        markers=(),
    )


def _shift_events(
    events: Sequence[Any], origin: int, remake: Callable[[Any, int], Any]
) -> tuple[Any, ...]:
    """Events moved back by ``origin`` ticks; the one in force at ``origin`` moves to 0."""
    before = [e for e in events if e.tick <= origin]
    shifted = [remake(before[-1], 0)] if before else []
    shifted += [remake(e, e.tick - origin) for e in events if e.tick > origin]
    return tuple(shifted)


# -- distances and densities -----------------------------------------------------------------
def _values(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.isfinite(array).all():
        raise DataError(f"{what}: values must be finite, got {array[~np.isfinite(array)][:3]}")
    return array


def intra_set_distances(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``|v_i - v_j|`` for every unordered pair ``i < j``: shape ``(n (n - 1) / 2,)``."""
    v = _values(values, "intra-set distances")
    i, j = np.triu_indices(len(v), k=1)
    return np.abs(v[i] - v[j])


def inter_set_distances(
    first: Sequence[float] | np.ndarray, second: Sequence[float] | np.ndarray
) -> np.ndarray:
    """``|a - b|`` for every ``a`` of ``first`` and ``b`` of ``second``: shape ``(n * m,)``."""
    a = _values(first, "inter-set distances")
    b = _values(second, "inter-set distances")
    return np.abs(a[:, None] - b[None, :]).reshape(-1)


def bandwidth(samples: np.ndarray, floor: float = 0.0) -> float:
    """Kernel standard deviation: Scott's rule ``std * n ** (-1/5)``, at least ``floor``.

    ``std`` is the sample standard deviation (``ddof=1``), as ``scipy.stats.gaussian_kde``
    uses; a sample of one value has none, so it gets ``floor``.
    """
    n = len(samples)
    scott = float(np.std(samples, ddof=1)) * n ** (-0.2) if n > 1 else 0.0
    return max(scott, floor)


def _bandwidth_floor(*samples: np.ndarray) -> float:
    pooled = np.concatenate(samples)
    spread = float(pooled.max() - pooled.min())
    scale = spread if spread > 0 else max(float(np.abs(pooled).max()), 1.0)
    return MIN_BANDWIDTH_SHARE * scale


def kde(samples: np.ndarray, grid: np.ndarray, width: float) -> np.ndarray:
    """Gaussian kernel density of ``samples`` on the evenly spaced ``grid`` (same shape).

    Samples are spread linearly onto their two nearest grid points, then convolved with the
    kernel sampled on the grid, so the cost is ``O(n + G * K)`` whatever the sample size.
    """
    points = len(grid)
    step = float(grid[1] - grid[0])
    position = np.clip((samples - grid[0]) / step, 0.0, points - 1.0)
    left = np.minimum(position.astype(np.int64), points - 2)
    weight = position - left
    mass = np.bincount(left, 1.0 - weight, points) + np.bincount(left + 1, weight, points)
    reach = min(points - 1, math.ceil(GRID_MARGIN * width / step))
    offsets = np.arange(-reach, reach + 1) * step
    kernel = np.exp(-0.5 * (offsets / width) ** 2) / (width * math.sqrt(2.0 * math.pi))
    density = np.convolve(mass, kernel, mode="full")[reach : reach + points]
    return density / len(samples)


def densities(*samples: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each sample's kernel density on one shared grid: ``(grid, [pdf, ...])``.

    Bandwidths follow :func:`bandwidth` with a floor of :data:`MIN_BANDWIDTH_SHARE` of the
    pooled range (or of the largest magnitude, at least 1, when every value is equal); the
    grid spans the pooled samples plus :data:`GRID_MARGIN` of the widest bandwidth, and each
    density is rescaled to integrate to 1 on it (the tails beyond hold under 1e-4).
    """
    if not samples or any(len(s) == 0 for s in samples):
        raise DataError("a density needs at least one value in every sample")
    floor = _bandwidth_floor(*samples)
    widths = [bandwidth(s, floor) for s in samples]
    pooled = np.concatenate(samples)
    margin = GRID_MARGIN * max(widths)
    grid = np.linspace(pooled.min() - margin, pooled.max() + margin, GRID_POINTS)
    pdfs = [kde(s, grid, w) for s, w in zip(samples, widths, strict=True)]
    return grid, [pdf / np.trapezoid(pdf, grid) for pdf in pdfs]  # each integrates to 1


def overlap_area(first: np.ndarray, second: np.ndarray) -> float:
    """``∫ min(p, q) dx`` of the two samples' densities (0: disjoint, 1: identical)."""
    grid, (p, q) = densities(first, second)
    area = float(np.trapezoid(np.minimum(p, q), grid))
    return min(max(area, 0.0), 1.0)


def kl_divergence(first: np.ndarray, second: np.ndarray) -> float:
    """``KL(p || q)`` in nats of the densities of ``first`` (p) and ``second`` (q).

    Both densities are turned into masses on the shared grid, floored at
    :data:`DENSITY_FLOOR` and renormalised, so the result is finite (at most about 23 nats).
    """
    _, (p, q) = densities(first, second)
    p_mass = _masses(p)
    q_mass = _masses(q)
    divergence = float((p_mass * np.log(p_mass / q_mass)).sum())
    return divergence if divergence > ROUNDING_NOISE else 0.0


def _masses(pdf: np.ndarray) -> np.ndarray:
    mass = np.maximum(pdf / pdf.sum(), DENSITY_FLOOR)
    return mass / mass.sum()


# -- per-metric comparison -------------------------------------------------------------------
@dataclass(frozen=True)
class Summary:
    """Mean and standard deviation (``ddof=0``) of a sample, and its size.

    An empty sample (the intra-set distances of a one-piece set) has ``None`` for both.
    """

    mean: float | None
    std: float | None
    count: int

    @classmethod
    def of(cls, values: np.ndarray) -> Summary:
        if len(values) == 0:
            return cls(None, None, 0)
        return cls(float(values.mean()), float(values.std()), len(values))

    def to_json(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "std": self.std, "count": self.count}


@dataclass(frozen=True)
class MetricComparison:
    """How one metric's values compare between the generated and the reference set.

    Attributes:
        name: the metric.
        generated, reference: the metric's values over each set.
        intra_generated, intra_reference, inter: the distance samples.
        oa_reference, kld_reference: OA and ``KL(intra-reference || inter)`` (headline);
            ``None`` when the reference set has one piece.
        oa_generated, kld_generated: OA and ``KL(intra-generated || inter)``; ``None`` when
            the generated set has one piece.
        curves: the three distance densities on one grid, for plots (not serialised).
    """

    name: str
    generated: Summary
    reference: Summary
    intra_generated: Summary
    intra_reference: Summary
    inter: Summary
    oa_reference: float | None
    kld_reference: float | None
    oa_generated: float | None
    kld_generated: float | None
    curves: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "generated": self.generated.to_json(),
            "reference": self.reference.to_json(),
            "intra_generated": self.intra_generated.to_json(),
            "intra_reference": self.intra_reference.to_json(),
            "inter": self.inter.to_json(),
            "overlap_area": {"reference": self.oa_reference, "generated": self.oa_generated},
            "kl_divergence": {"reference": self.kld_reference, "generated": self.kld_generated},
        }


def compare_metric(
    name: str, generated: Sequence[float] | np.ndarray, reference: Sequence[float] | np.ndarray
) -> MetricComparison:
    """Compare one metric's values over two sets; see the module docstring.

    Raises:
        DataError: a set is empty or holds a non-finite value.
    """
    gen = _values(generated, f"{name} (generated)")
    ref = _values(reference, f"{name} (reference)")
    if len(gen) == 0 or len(ref) == 0:
        raise DataError(f"{name}: both sets need at least one piece, got {len(gen)} generated "
                        f"and {len(ref)} reference")
    intra_gen, intra_ref = intra_set_distances(gen), intra_set_distances(ref)
    inter = inter_set_distances(gen, ref)
    present = {"inter": inter, "intra_generated": intra_gen, "intra_reference": intra_ref}
    present = {key: sample for key, sample in present.items() if len(sample)}
    grid, pdfs = densities(*present.values())
    curves = {"grid": grid, **dict(zip(present, pdfs, strict=True))}
    has_ref, has_gen = len(intra_ref) > 0, len(intra_gen) > 0
    return MetricComparison(
        name=name,
        generated=Summary.of(gen),
        reference=Summary.of(ref),
        intra_generated=Summary.of(intra_gen),
        intra_reference=Summary.of(intra_ref),
        inter=Summary.of(inter),
        oa_reference=overlap_area(intra_ref, inter) if has_ref else None,
        kld_reference=kl_divergence(intra_ref, inter) if has_ref else None,
        oa_generated=overlap_area(intra_gen, inter) if has_gen else None,
        kld_generated=kl_divergence(intra_gen, inter) if has_gen else None,
        curves=curves,
    )


@dataclass(frozen=True)
class SetComparison:
    """Every metric's :class:`MetricComparison`, in order, and the sizes of both sets."""

    generated_count: int
    reference_count: int
    metrics: tuple[MetricComparison, ...]

    def mean_overlap(self, side: str) -> float | None:
        """Mean overlap area over the metrics that have one on ``side`` (``"reference"``:
        intra-reference vs inter-set distances; ``"generated"``: intra-generated vs inter):
        a one-number summary, 1 when the two sets cannot be told apart metric by metric."""
        values = [getattr(m, f"oa_{side}") for m in self.metrics]
        present = [float(v) for v in values if v is not None]
        return sum(present) / len(present) if present else None

    def __getitem__(self, name: str) -> MetricComparison:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": "Yang & Lerch 2018: intra-set vs inter-set distance densities",
            "generated_count": self.generated_count,
            "reference_count": self.reference_count,
            "metrics": {m.name: m.to_json() for m in self.metrics},
        }


def compare_sets(
    generated: Sequence[Mapping[str, float]],
    reference: Sequence[Mapping[str, float]],
    names: Sequence[str] | None = None,
) -> SetComparison:
    """Compare two sets of per-piece metric values (as :func:`~cadenza.metrics.compute_all`
    returns them), metric by metric.

    ``names`` defaults to the metrics of the first generated piece, in its order.

    Raises:
        DataError: a set is empty, or a piece lacks one of the metrics.
    """
    if not generated or not reference:
        raise DataError(f"comparing sets needs pieces in both, got {len(generated)} generated "
                        f"and {len(reference)} reference")
    if names is None:
        names = list(generated[0])
    if not names:
        raise DataError("comparing sets needs at least one metric")
    results = []
    for name in names:
        columns = []
        for label, pieces in (("generated", generated), ("reference", reference)):
            missing = [i for i, piece in enumerate(pieces) if name not in piece]
            if missing:
                raise DataError(f"{label} piece {missing[0]} has no value for metric {name!r}")
            columns.append([piece[name] for piece in pieces])
        results.append(compare_metric(name, columns[0], columns[1]))
    return SetComparison(len(generated), len(reference), tuple(results))


# -- figure ----------------------------------------------------------------------------------
CURVE_STYLES = (
    ("intra_reference", "intra reference", "tab:blue"),
    ("intra_generated", "intra generated", "tab:orange"),
    ("inter", "inter-set", "tab:green"),
)


def distributions_png(comparison: SetComparison, columns: int = 4) -> bytes:
    """A PNG with one small panel per metric: the three distance densities.

    Raises:
        ImportError: matplotlib is not installed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    count = max(len(comparison.metrics), 1)
    rows = -(-count // columns)
    figure = Figure(figsize=(3.2 * columns, 2.4 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(comparison.metrics):
            ax.set_axis_off()
            continue
        metric = comparison.metrics[index]
        for key, label, color in CURVE_STYLES:
            if key in metric.curves:
                ax.plot(metric.curves["grid"], metric.curves[key], label=label, color=color)
        oa = "-" if metric.oa_reference is None else f"{metric.oa_reference:.2f}"
        ax.set_title(f"{metric.name} (OA {oa})", fontsize=8)
        ax.set_xlabel("distance", fontsize=7)
        ax.tick_params(labelsize=6)
        if index == 0:
            ax.legend(fontsize=6)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_distributions_png(comparison: SetComparison, path: str | Path) -> Path:
    """Write :func:`distributions_png` to ``path`` atomically; returns the path."""
    write_bytes_atomic(path, distributions_png(comparison))
    return Path(path)
