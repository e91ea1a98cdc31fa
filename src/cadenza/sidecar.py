"""The settings of a composed piece, saved beside it, so that it can be made again exactly.

Every piece ``NAME.mid`` gets ``NAME.json``: the cadenza version, the checkpoint folder and
the SHA-256 of its weights, the primer that was used, the seed (drawn and recorded when the
user gave none) and every setting of the request. ``cadenza generate --replay NAME.json``
reads it back into the same request; with the same weights the same notes come out.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from cadenza import __version__
from cadenza.errors import ConfigError
from cadenza.fileio import read_json_object, write_json_atomic

SIDECAR_FORMAT = 1
# Request fields that say how the music is made (not where files go or how they are shown).
REPLAYED = (
    "bars", "length", "primer_file", "composer", "random_primer", "no_primer",
    "primer_length", "primer_bars", "temperature", "threshold", "top_k", "top_p", "adaptive",
    "max_hold_steps", "max_repeats", "seed", "count", "bpm", "velocity", "key", "key_strength",
    "pitch_range", "max_polyphony", "form", "phrase_bars", "variation", "rhythm_returns", "ending",
    "ending_hold", "melody_file", "below_only", "voice", "infill", "infill_candidates",
    "ritardando", "humanise",
    "density", "program", "velocity_temperature", "velocity_memory", "velocity_drift",
    "metre_guide",
    "rhythm_guide", "harmony_guide", "rhythm_copy", "avoid_parallels", "ensemble", "style",
    "style_strength",
)


def request_settings(request: Any) -> dict[str, Any]:
    """The replayed fields of a :class:`cadenza.composing.ComposeRequest`, JSON-ready."""
    settings = {}
    for name in REPLAYED:
        value = getattr(request, name)
        settings[name] = str(value) if isinstance(value, Path) else value
    return settings


def sidecar_record(*, request: Any, checkpoint: str | Path, weights_sha256: str | None,
                   primer: str, piece: int) -> dict[str, Any]:
    """The sidecar of piece ``piece`` (0-based) of a request's batch."""
    return {
        "format": SIDECAR_FORMAT,
        "cadenza_version": __version__,
        "checkpoint": str(checkpoint),
        "weights_sha256": weights_sha256,
        "primer": primer,
        "piece": piece,
        "settings": request_settings(request),
    }


def write_sidecar(path: Path, *, request: Any, checkpoint: str | Path, weights_sha256: str | None,
                  primer: str, piece: int) -> Path:
    """Write the sidecar of piece ``piece`` (0-based) of a request's batch."""
    write_json_atomic(path, sidecar_record(request=request, checkpoint=checkpoint,
                                           weights_sha256=weights_sha256, primer=primer,
                                           piece=piece))
    return path


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """A sidecar's record, checked enough to rebuild a request from it.

    Raises:
        ConfigError: the file is missing, not JSON, or not a cadenza sidecar.
    """
    path = Path(path)
    record = read_json_object(path, ConfigError, "cadenza sidecar")
    if not isinstance(record.get("settings"), dict):
        raise ConfigError(f"{path}: not a cadenza sidecar (no settings)")
    if record.get("format") != SIDECAR_FORMAT:
        raise ConfigError(f"{path}: sidecar format {record.get('format')!r}, this cadenza "
                          f"reads {SIDECAR_FORMAT}")
    unknown = sorted(set(record["settings"]) - set(REPLAYED))
    if unknown:
        raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}")
    return record


def replay_request(path: str | Path, request_class: type, **overrides: Any) -> Any:
    """A request rebuilt from the sidecar at ``path``; ``overrides`` (output folder, files
    to write) are taken as given."""
    record = read_sidecar(path)
    settings = dict(record["settings"])
    for name in ("primer_file", "melody_file"):
        if settings.get(name) is not None:
            settings[name] = Path(settings[name])
    allowed = {f.name for f in fields(request_class)}
    settings = {k: v for k, v in settings.items() if k in allowed}
    return request_class(checkpoint=record["checkpoint"], **settings, **overrides)
