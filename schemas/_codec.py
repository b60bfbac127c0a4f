"""The JSON wire format: encode, decode with one exception type, JSON Schema export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from schemas._messages import Alert, DeadLetter, Reading, ReadingBatch, Score, ScoreBatch
from schemas._types import Message

__all__ = [
    "MESSAGE_TYPES",
    "SchemaError",
    "decode",
    "encode",
    "encode_key",
    "json_schemas",
    "write_json_schemas",
]

M = TypeVar("M", bound=BaseModel)

# Every top-level message type, by the name used for its schema file.
MESSAGE_TYPES: Final[dict[str, type[Message]]] = {
    model.__name__: model for model in (Reading, ReadingBatch, Score, ScoreBatch, Alert, DeadLetter)
}


class SchemaError(ValueError):
    """A message that does not match its model, is not JSON, or is not UTF-8.

    `model` is the model's name, `field` the dotted path of the first wrong field ("" when
    the message as a whole is wrong, e.g. invalid JSON), `reason` what is wrong with it, and
    `errors` every (field, reason) pair found.
    """

    def __init__(
        self, model: str, field: str, reason: str, errors: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.model = model
        self.field = field
        self.reason = reason
        self.errors = errors or ((field, reason),)
        where = f"{model}.{field}" if field else model
        more = len(self.errors) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        super().__init__(f"{where}: {reason}{suffix}")

    def __reduce__(
        self,
    ) -> tuple[type[SchemaError], tuple[str, str, str, tuple[tuple[str, str], ...]]]:
        # The default reduce would call __init__ with the message only; keep the attributes.
        return (type(self), (self.model, self.field, self.reason, self.errors))


def encode(message: BaseModel) -> bytes:
    """Serialize a message to compact UTF-8 JSON (NaN never appears; bytes are base64)."""
    # Pydantic's own JSON, not orjson: it is faster both ways on single readings (the hot
    # path) and within ~25% on 100-row batches (benchmarks/codec.py), so a second JSON library
    # does not pay for itself. Calling the serializer directly skips model_dump_json's overhead.
    return type(message).__pydantic_serializer__.to_json(message)


def decode(data: bytes | str, model: type[M]) -> M:
    """Parse and validate JSON into `model` with strict types, raising `SchemaError`."""
    # validate_json parses and validates in one pass in Rust; it is also the only path that
    # honours `val_json_bytes="base64"`, which DeadLetter needs.
    # Strict: a wire type is what the schema says ("seq": "123" is a string, not a seq);
    # JSON has no datetime type, so timestamps are still read from RFC 3339 strings.
    try:
        result: M = model.__pydantic_validator__.validate_json(data, strict=True)
    except ValidationError as exc:
        raise _schema_error(model.__name__, data, exc.errors(include_url=False)) from None
    return result


def encode_key(entity: str) -> bytes:
    """The Kafka message key for an entity, so one entity's messages share a partition."""
    if not entity:
        raise ValueError("entity must be a non-empty string")
    return entity.encode("utf-8")


def _schema_error(model: str, data: bytes | str, details: list[ErrorDetails]) -> SchemaError:
    # Built only on the error path, so the UTF-8 check below costs nothing for good input.
    errors = tuple((".".join(str(part) for part in e["loc"]), e["msg"]) for e in details)
    field, reason = errors[0]
    if details[0]["type"] == "json_invalid" and isinstance(data, bytes):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
            errors = ((field, reason),)
    return SchemaError(model, field, reason, errors)


def json_schemas() -> dict[str, dict[str, Any]]:
    """Message type name -> JSON Schema (validation mode) generated from the model."""
    return {name: model.model_json_schema() for name, model in MESSAGE_TYPES.items()}


def write_json_schemas(directory: Path) -> list[Path]:
    """Write `<name>.schema.json` for each message type into `directory`; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        # Sorted keys and a trailing newline keep regenerated files diff-stable.
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
