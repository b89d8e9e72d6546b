"""Every name the dead-letter queue uses in the stores: tables, functions, Redis keys, stream
fields. (The platform keeps its other names in ``apex.keys``; these join them when the DLQ is
wired into the consumers.)"""

from __future__ import annotations

from apex.keys import PREFIX

#: Table of dead letters (``apex/schema/postgres/0008_dead_letters.sql``).
DEAD_LETTERS_TABLE = "dead_letters"
#: Function: tenants with dead letters, with counts by state (the operators' census).
DEAD_LETTER_TENANTS_FUNCTION = "apex_dead_letter_tenants"
#: Function: the tenant of one dead letter.
DEAD_LETTER_TENANT_FUNCTION = "apex_dead_letter_tenant"
#: Function: tenants with at least one billing event.
BILLED_TENANTS_FUNCTION = "apex_billed_tenants"

#: Stream field a redriven message carries: the id of its first enqueue, which names it in the
#: dead-letter queue for good, so a redriven message that fails again returns to its own entry.
MESSAGE_ID_FIELD = "dlq-message"

#: The tenant id of a message whose tenant could not be read (it is kept, never dropped).
UNATTRIBUTED = ""


def failure_notes(stream: str, message_id: str) -> str:
    """Hash: the errors of a message's failed deliveries while it is retried (delivery number ->
    error), next to the message in the same store: if Redis loses them it lost the message too,
    and once the message is dead-lettered they move to PostgreSQL."""
    return f"{PREFIX}:dlq:notes:{stream}:{message_id}"


def redrive_marker(entry: str, redrive: int) -> str:
    """String: the stream entry id one redrive of a dead letter enqueued; it makes the enqueue
    happen once however many times the redrive is attempted."""
    return f"{PREFIX}:dlq:redrive:{entry}:{redrive}"
