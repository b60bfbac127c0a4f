"""JSON Schema export: generated from the models, one readable file per message type."""

from __future__ import annotations

import json
from pathlib import Path

from schemas import MESSAGE_TYPES, json_schemas, write_json_schemas


def test_json_schemas_come_from_the_models() -> None:
    exported = json_schemas()
    assert set(exported) == set(MESSAGE_TYPES)
    for name, model in MESSAGE_TYPES.items():
        assert exported[name] == model.model_json_schema()
        assert exported[name]["additionalProperties"] is False  # extra="forbid" shows


def test_write_json_schemas_writes_one_valid_file_per_model(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "schemas"
    paths = write_json_schemas(out)
    assert sorted(p.name for p in paths) == sorted(f"{n}.schema.json" for n in MESSAGE_TYPES)
    assert sorted(out.iterdir()) == sorted(paths)
    for path in paths:
        text = path.read_text(encoding="utf-8")
        schema = json.loads(text)
        assert schema["title"] == path.name.removesuffix(".schema.json")
        assert text == json.dumps(schema, indent=2, sort_keys=True) + "\n"


def test_schemas_describe_the_wire_format() -> None:
    exported = json_schemas()
    reading = exported["Reading"]["properties"]
    assert reading["dataset"]["pattern"] == "^[a-z0-9][a-z0-9_-]*$"
    assert reading["event_time"]["format"] == "date-time"
    assert reading["schema_version"]["const"] == 1
    assert exported["DeadLetter"]["properties"]["raw"]["format"].startswith("base64")
    states = exported["Alert"]["$defs"]["AlertState"]["enum"]
    assert states == ["opened", "updated", "resolved"]


def test_rewriting_is_stable(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in write_json_schemas(tmp_path)}
    second = {p.name: p.read_bytes() for p in write_json_schemas(tmp_path)}
    assert first == second
