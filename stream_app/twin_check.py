"""Is another worker running with this worker's id? The group's members tell.

A transactional producer is fenced both when a twin (same ANOMSTREAM_WORKER_WORKER_ID, so
the same transactional id) starts and when the coordinator aborted a transaction that
outlived its timeout during a broker outage. Only the first must stop the worker; the
consumer group's members, whose client ids carry the worker id, tell the two apart.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

__all__ = ["find_twin"]

log = logging.getLogger(__name__)


def find_twin(
    client_config: dict[str, Any], group_id: str, client_id: str, own_member_id: str | None
) -> str | None:
    """A description of another group member with our client id, or None (also when the
    group cannot be described: then a restarted producer is the better guess)."""
    admin = AdminClient({**client_config, "log_level": 2})
    try:
        future = admin.describe_consumer_groups([group_id], request_timeout=10)[group_id]
        description = future.result(timeout=15)
    except (KafkaException, TimeoutError) as exc:
        log.warning("could not describe group %s to look for a twin worker: %s", group_id, exc)
        return None
    for member in description.members:
        if member.client_id == client_id and member.member_id != own_member_id:
            return f"member {member.member_id} on host {member.host}"
    return None
