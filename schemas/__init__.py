"""Message schemas, JSON codec and topic names: the contract between every anomstream process."""

from schemas._codec import (
    MESSAGE_TYPES,
    SchemaError,
    decode,
    encode,
    encode_key,
    json_schemas,
    write_json_schemas,
)
from schemas._messages import (
    Alert,
    DeadLetter,
    Reading,
    ReadingBatch,
    Score,
    channel_values,
    to_row,
    to_rows,
)
from schemas._types import (
    MAX_TOP_CHANNELS,
    SCHEMA_VERSION,
    AlertState,
    ChannelContribution,
    Message,
)
from schemas._wire import encode_reading, encode_reading_batch
from schemas.topics import (
    ALERTS_TOPIC,
    DATASETS,
    DEADLETTER_TOPIC,
    TopicSettings,
    TopicSpec,
    readings_topic,
    scores_topic,
    topic_specs,
)

__all__ = [
    "ALERTS_TOPIC",
    "DATASETS",
    "DEADLETTER_TOPIC",
    "MAX_TOP_CHANNELS",
    "MESSAGE_TYPES",
    "SCHEMA_VERSION",
    "Alert",
    "AlertState",
    "ChannelContribution",
    "DeadLetter",
    "Message",
    "Reading",
    "ReadingBatch",
    "SchemaError",
    "Score",
    "TopicSettings",
    "TopicSpec",
    "channel_values",
    "decode",
    "encode",
    "encode_key",
    "encode_reading",
    "encode_reading_batch",
    "json_schemas",
    "readings_topic",
    "scores_topic",
    "to_row",
    "to_rows",
    "topic_specs",
    "write_json_schemas",
]
