"""The numbers of a cv run do not move when the code around the engine changes: Pima, iris,
diabetes and a table with a text column and empty cells, against what commit 74e3929 (before
the columnar data path) recorded on the same folds (`tests/golden/cases.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from golden.cases import cases, run_case

pytestmark = pytest.mark.data  # the Pima file, and training

RECORDED: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "golden" / "same-numbers.json").read_text()
)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_cv_gives_the_recorded_numbers(name: str, tmp_path: Path) -> None:
    found = run_case(cases(tmp_path)[name], tmp_path / "runs")
    assert found.keys() == RECORDED[name].keys()
    for key, before in RECORDED[name].items():
        if key == "task" or before is None:
            assert found[key] == before, key
            continue
        assert np.allclose(found[key], before, rtol=1e-6, atol=0), (key, found[key], before)
