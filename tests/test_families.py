"""The family record: one table, complete for every family, and nothing else switches on names."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cadenza.errors import ConfigError
from cadenza.families import FAMILIES, get_family
from cadenza.models.registry import all_presets, build_model
from cadenza.representations import REGISTRY

SRC = Path(__file__).resolve().parents[1] / "src" / "cadenza"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_record_is_complete(name: str) -> None:
    family = get_family(name)
    presets = [p for p in all_presets().values() if p.family == name]
    assert {f"{name}-debug", f"{name}-small"} <= {n for n, p in all_presets().items()
                                                   if p.family == name}
    representation = REGISTRY[family.representation]()
    model = build_model(presets[0])  # at the preset's placeholder vocabulary sizes
    assert model.family == name and model.representation == family.representation
    maker = family.batch_maker_class()
    assert maker.__name__.endswith("BatchMaker")
    assert family.sample_length > 0 and family.default_primer_length(model, representation) > 0
    assert callable(family.generate)


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown model family 'lute'"):
        get_family("lute")


def test_no_module_switches_on_a_family_name() -> None:
    """Only the family record and the models' own modules may spell family names in logic."""
    names = "|".join(sorted(FAMILIES))
    pattern = re.compile(rf"""(==|!=|\bin)\s*\(?\s*["']({names})["']|["']({names})["']\s*:""")
    allowed = {SRC / "families.py"}
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path in allowed or path.parent.name == "models":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(SRC)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_grid_families_have_bar_primers() -> None:
    for family in FAMILIES.values():
        representation = REGISTRY[family.representation]()
        model = build_model(next(p for p in all_presets().values() if p.family == family.name))
        length = family.default_primer_length(model, representation)
        if family.grid:
            assert length == 4 * representation.config.steps_per_quarter
        else:
            assert length == int(np.round(length)) and length >= 8
