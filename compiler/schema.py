"""The JSON Schema of picluster.yaml, generated from the models (for editors and other tools)."""

from __future__ import annotations

import json

from .spec import Spec

SCHEMA_PATH = "schemas/picluster.schema.json"


def schema_text() -> str:
    """The schema as stable, pretty-printed JSON text."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Spec.model_json_schema()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
