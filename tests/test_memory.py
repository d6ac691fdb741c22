"""The memory estimate: what it counts, computed by hand for one case (the numbers the
benchmark compares with measured peaks are in docs/engine.md)."""

from __future__ import annotations

from densecli.engine import RUNTIME_BYTES, estimate
from densecli.spec import validate_spec

PIMA_NET = {
    "model": {
        "layers": [
            {"units": 8, "activation": "relu"},
            {"units": 6, "activation": "relu"},
            {"units": 1, "activation": "sigmoid"},
        ]
    },
    "train": {"batch_size": 64, "optimizer": "adam"},
}


def test_the_estimate_counts_weights_table_activations_data_and_a_transient() -> None:
    spec = validate_spec(PIMA_NET)
    found = estimate(spec, 8, jobs=10, train_rows=692, eval_rows=77)
    weights = 133 * 4 * (2 + 2)  # 133 parameters; weights, gradients, Adam's two slots; x4
    table = 704 * (8 + 1 + 2) + 77 * (8 + 1 + 1)  # rows padded to 11 batches of 64
    activations = 3 * 64 * (8 + 8 + 6 + 1) + 2 * 77 * (8 + 6 + 1)
    data = 2 * 769 * 8 + 4 * 769
    transient = 692 * 8 * 4
    assert found.total == 4 * (10 * (weights + table + activations) + data + transient)
    assert found.with_runtime == found.total + RUNTIME_BYTES
    assert found.params == 133 and found.shape == "8-8-6-1"


def test_more_rows_or_jobs_need_more() -> None:
    spec = validate_spec(PIMA_NET)
    base = estimate(spec, 20, jobs=10, train_rows=45_000, eval_rows=5_000).total
    assert estimate(spec, 20, jobs=10, train_rows=450_000, eval_rows=50_000).total > 9 * base
    assert estimate(spec, 20, jobs=20, train_rows=45_000, eval_rows=5_000).total > 1.5 * base
