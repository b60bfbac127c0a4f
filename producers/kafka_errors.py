"""The login or TLS failure behind a Kafka client's timeout, caught by its error callback.

librdkafka reports a refused SASL login or an untrusted broker certificate only through the
client's `error_cb`; the request that was waiting for the broker just times out with
"transport failure". Without this, a wrong password would read "cannot reach Kafka".
"""

from __future__ import annotations

import logging
from typing import Protocol

from confluent_kafka import KafkaError, Message

__all__ = ["RecordErrors", "SecurityErrors", "refused"]

_SECURITY_CODES = frozenset(
    {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED}
)


class _Polled(Protocol):
    def poll(self, timeout: float = ...) -> object: ...


class SecurityErrors:
    """An `error_cb` that keeps the first authentication or TLS error a client saw.

    With `log` given, that first error is also logged (for services that keep retrying);
    the messages name the broker and the mechanism, never a credential.
    """

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.first: str | None = None
        self._log = log

    def __call__(self, error: KafkaError) -> None:
        if self.first is None and error.code() in _SECURITY_CODES:
            self.first = error.str()
            if self._log is not None:
                self._log.error("Kafka refused the connection: %s", self.first)

    def reason(self, client: _Polled) -> str | None:
        """The first security error, once the callbacks queued while waiting are served."""
        if self.first is None:
            client.poll(0)
        return self.first


def refused(bootstrap: str, reason: str) -> str:
    """One line for a login or TLS failure, pointing at the settings that decide it."""
    return (
        f"Kafka at {bootstrap} refused the connection: {reason} "
        "(check the ANOMSTREAM_KAFKA_SECURITY_PROTOCOL, _SASL_* and _SSL_* settings)"
    )


class RecordErrors:
    """Logs a consumer's error records, each distinct one once: the same error would
    repeat on every poll. The end of a partition is no error."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._seen: set[str] = set()

    def on_error(self, record: Message) -> None:
        error = record.error()
        if error is None or error.code() == KafkaError._PARTITION_EOF:
            return
        text = f"{record.topic()}: {error.str()}"
        if text not in self._seen:
            self._seen.add(text)
            self._log.warning("consumer error on %s", text)
