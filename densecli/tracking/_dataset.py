"""The table a run was trained on, as an MLflow dataset input: its name, its file, the
columns the run used with their types, and its checksum.

MLflow keeps at most 36 characters of a dataset's digest, so the digest is the sha256's
first 36 hex digits and the whole sha256 is one of the input's tags. Only the description is
logged, never the rows (an MLflow `MetaDataset`).
"""

from __future__ import annotations

import warnings
from typing import Any

from densecli.tracking._record import DataFacts

DIGEST_LENGTH = 36  # MLflow's limit for a dataset digest
SHA256_TAG = "densecli.data_sha256"
DROPPED_TAG = "densecli.dropped_columns"
CONTEXT = "training"  # MLflow's `mlflow.data.context`: what the run did with it


def dataset_input(facts: DataFacts) -> Any:
    """An `mlflow.entities.DatasetInput` for `client.log_inputs`."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.types import ColSpec, Schema
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    schema = Schema([ColSpec(kind, name) for name, kind in facts.columns])
    with warnings.catch_warnings():  # "can be interpreted in multiple ways": a local file
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(facts.path)
    metadata: Any = MetaDataset  # a description of the table without its rows
    dataset = metadata(source, name=facts.name, digest=facts.sha256[:DIGEST_LENGTH], schema=schema)
    tags = [InputTag(MLFLOW_DATASET_CONTEXT, CONTEXT), InputTag(SHA256_TAG, facts.sha256)]
    if facts.dropped:
        tags.append(InputTag(DROPPED_TAG, ", ".join(facts.dropped)[:5000]))
    return DatasetInput(dataset._to_mlflow_entity(), tags=tags)
