"""The spec's JSON Schema, for editors (yaml-language-server) to complete and check keys.

No TensorFlow here. The schema is pydantic's, with one addition: the tutorial's `init` alias
of `kernel_initializer`, which pydantic leaves out because a field has one name in a schema.
Without it an editor would flag `init:` in the shipped configs although densecli accepts it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from densecli.spec._model import Spec

SCHEMA_FILENAME = "densecli.schema.json"
SCHEMA_COMMENT = "# yaml-language-server: $schema="


def spec_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema()
    layer = schema["$defs"]["LayerSpec"]["properties"]
    init = copy.deepcopy(layer["kernel_initializer"])
    init["title"] = "Init"
    init.pop("default", None)
    init["description"] = "The tutorial's name for kernel_initializer; use one of the two."
    layer["init"] = init
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "densecli experiment spec",
    }


def schema_text() -> str:
    return json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n"
