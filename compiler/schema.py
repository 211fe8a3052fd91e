"""The JSON Schema of picluster.yaml, generated from the models (for editors and other tools)."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputFileError
from .spec import Spec

SCHEMA_PATH = "schemas/picluster.schema.json"


def schema_text() -> str:
    """The schema as stable, pretty-printed JSON text."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Spec.model_json_schema()}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path) -> str | None:
    """Write the schema to ``path``; for ``-``, return its text for stdout instead.

    Raises:
        InputFileError: the file cannot be written.
    """
    text = schema_text()
    if str(path) == "-":
        return text
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write the schema: {exc.strerror or exc}") from None
    return None
