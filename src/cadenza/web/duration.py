"""How long a requested piece will last, known before it is composed, and the cap on it.

A piece's length in bars costs the same to compose at any tempo, but its audio grows with
its duration: 256 bars at 10 bpm last 102 minutes, whose WAV (2 GB of samples, and several
times that in memory while it is scaled) took the server past its memory. So the page
composes pieces of at most ``--max-minutes`` (:func:`check_duration`, a 422 before anything
runs), and renders audio only for pieces of at most ``--max-wav-minutes`` (checked on the
composed piece, whose tempo may come from a primer; :func:`wav_refusal`).

Bars are 4/4 bars (four quarter notes, as composing counts them); the tempo is ``bpm`` when
the request sets it, else an uploaded file's own. A held-out primer's tempo is not known
before composing, so a request without ``bpm`` and without an upload is not refused here
(the primers' tempos are kept within 60..160 bpm: 256 bars last at most 17 minutes).
"""

from __future__ import annotations

from dataclasses import dataclass

from cadenza.web.problems import Problem
from cadenza.web.requests import CompositionIn
from cadenza.web.uploads import Upload

QUARTERS_PER_BAR = 4
DEFAULT_MAX_MINUTES = 20.0
# With the renderer of today (every sample in memory, scaled in float64: about 155 MB a
# minute of audio), 4 minutes keep the server under 1.5 GB with room to spare: 1.43 GB
# was measured for 4.8 minutes (docs/benchmarks.md, benchmarks/web_load.py --longest).
DEFAULT_MAX_WAV_MINUTES = 4.0


@dataclass
class Estimate:
    """What a request makes, in quarter notes, and the tempo it will be played at."""

    kept_quarters: float  # of the uploaded file
    new_quarters: float  # composed
    qpm: float

    @property
    def minutes(self) -> float:
        return (self.kept_quarters + self.new_quarters) / self.qpm


def _upload_quarters(upload: Upload) -> float:
    return upload.quarters or upload.bars * QUARTERS_PER_BAR


def estimate(body: CompositionIn, upload: Upload | None) -> Estimate | None:
    """How long ``body`` (with its ``upload``) will last; ``None`` when its tempo is unknown."""
    new = body.bars * QUARTERS_PER_BAR if body.mode in ("compose", "continue") else 0.0
    kept = _upload_quarters(upload) if upload is not None else 0.0
    if upload is not None and body.mode == "continue" and body.primer_bars is not None:
        kept = min(kept, body.primer_bars * QUARTERS_PER_BAR)
    if body.bpm is not None:
        qpm = float(body.bpm)
    elif upload is not None and upload.seconds > 0 and _upload_quarters(upload) > 0:
        qpm = _upload_quarters(upload) / (upload.seconds / 60.0)  # the file's own tempo
    else:
        return None
    return Estimate(kept, new, qpm)


def check_duration(body: CompositionIn, upload: Upload | None, max_minutes: float) -> None:
    """Refuse (422) a request whose piece would last more than ``max_minutes``."""
    found = estimate(body, upload)
    if found is None or found.minutes <= max_minutes:
        return
    tempo = f"{found.qpm:.0f} bpm" + ("" if body.bpm is not None else " (your file's tempo)")
    bars = body.bars if found.new_quarters else 0
    if found.kept_quarters and bars:
        what = f"your file and {bars} more bars at {tempo}"
    elif bars:
        what = f"{bars} bars at {tempo}"
    else:
        what = f"your file at {tempo}"
    field = "bars" if bars else ("bpm" if body.bpm is not None else "upload")
    raise Problem(422, f"{field}: {what} last {found.minutes:.0f} minutes; the page composes "
                       f"at most {max_minutes:g} minutes", field)


def wav_refusal(seconds: float, max_wav_minutes: float) -> str | None:
    """Why a piece of ``seconds`` gets no WAV (``None``: it gets one)."""
    if seconds <= max_wav_minutes * 60.0:
        return None
    return (f"the piece lasts {seconds / 60:.1f} minutes, and the page renders audio for "
            f"pieces of at most {max_wav_minutes:g} minutes")
