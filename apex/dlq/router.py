"""What a stream consumer calls around each delivery, so that a message is delivered exactly
its queue's N times, with backoff between deliveries, and then moved to the dead-letter queue.

A consumer of a queue (the orchestration worker on the job stream, the analytics sink on the
usage stream) does, for each delivery its ``ConsumerGroup`` hands it::

    if not router.admit(consumer, delivery, tenant_id):
        continue                      # every allowed delivery happened: dead-lettered
    try:
        handle(delivery)
    except Exception as exc:
        router.failed(consumer, delivery, exc, tenant_id)   # retry later, or dead-letter
        continue
    consumer.ack(delivery.entry_id)
    router.succeeded(delivery)

``tenant_id`` is whose message it is, None if the consumer could not read it (the message is
kept all the same). A job lease (``ClaimKeeper``) must have stopped before ``failed`` is called:
its heartbeats would undo the backoff.
"""

from __future__ import annotations

import logging

from apex.clock import Clock
from apex.dlq.policy import Reason, Verdict
from apex.dlq.queues import QueueSpec
from apex.dlq.records import DeliveryError, Message
from apex.dlq.store import DeadLetters, Stored
from apex.streams import ConsumerGroup, Delivery

log = logging.getLogger(__name__)

_MAX_ERROR = 2000


class DeadLetterRouter:
    """Retries and dead-letters the deliveries of one queue."""

    def __init__(self, dead_letters: DeadLetters, queue: QueueSpec, clock: Clock) -> None:
        self._dead_letters = dead_letters
        self._queue = queue
        self._clock = clock
        self._stream = dead_letters.stream

    @property
    def queue(self) -> QueueSpec:
        return self._queue

    def admit(
        self, consumer: ConsumerGroup, delivery: Delivery, tenant_id: str | None
    ) -> bool:
        """Whether to handle this delivery. False if its message already had every delivery
        its queue allows (the consumer of the last one died during it): it is then moved to
        the dead-letter queue unhandled."""
        policy = self._queue.policy
        if not policy.exhausted(delivery.deliveries):
            return True
        message = Message.of(self._queue.name, delivery, tenant_id)
        noted = self._stream.notes(self._queue.stream, message.message_id)
        # deliveries past the limit were attempts to dead-letter it (a store was down), not to
        # handle it; a limit lowered since may leave more handled deliveries than it allows
        attempts = max([min(delivery.deliveries - 1, policy.max_deliveries), *noted])
        log.warning("%s entry %s: delivered %d times; dead-lettering it", self._queue.name,
                    delivery.entry_id, attempts)
        self._dead_letter(consumer, message, Reason.MAX_DELIVERIES, attempts, None)
        return False

    def failed(
        self, consumer: ConsumerGroup, delivery: Delivery, error: BaseException,
        tenant_id: str | None,
    ) -> Verdict:
        """Delivery ``delivery.deliveries`` of a message failed with ``error``: hold it back
        for the policy's backoff (it stays pending, and is claimed again once that has
        passed), or, after its last allowed delivery or when it can never be processed, move
        it to the dead-letter queue and off the stream. Returns what was decided. Raises
        ServiceUnavailable/StreamError if a store did not answer: the entry then stays pending
        and comes back, and is decided again."""
        verdict = self._queue.policy.decide(delivery.deliveries, error)
        message = Message.of(self._queue.name, delivery, tenant_id)
        failure = DeliveryError(delivery.deliveries, describe(error), self._clock.now().isoformat())
        if verdict.reason is None:
            backoff = min(verdict.backoff, consumer.claim_idle)
            if backoff < verdict.backoff:
                log.info("%s: backoff %s capped at the claim time %s", self._queue.name,
                         verdict.backoff, consumer.claim_idle)
            held = self._stream.retry_later(
                consumer.stream, consumer.group, consumer.consumer, delivery.entry_id,
                message_id=message.message_id, failed=failure, claim_idle=consumer.claim_idle,
                backoff=backoff,
            )
            if not held:
                log.warning("%s entry %s was claimed by another consumer meanwhile",
                            self._queue.name, delivery.entry_id)
            return Verdict(None, backoff)
        self._dead_letter(consumer, message, verdict.reason, delivery.deliveries, failure)
        return verdict

    def succeeded(self, delivery: Delivery) -> None:
        """The delivery was handled (and acknowledged): forget the errors of earlier ones."""
        if delivery.deliveries > 1:
            message = Message.of(self._queue.name, delivery, None)
            self._stream.forget_notes(self._queue.stream, message.message_id)

    def _dead_letter(
        self, consumer: ConsumerGroup, message: Message, reason: Reason, attempts: int,
        last: DeliveryError | None,
    ) -> Stored:
        noted = self._stream.notes(self._queue.stream, message.message_id)
        if last is not None:
            noted[last.delivery] = last
        # Durable first; only then off the stream. A crash in between leaves the entry pending:
        # it comes back past the limit, and storing it again changes nothing.
        stored = self._dead_letters.dead_letter(
            message, reason, attempts=attempts, errors=list(noted.values())
        )
        self._stream.remove(
            consumer.stream, consumer.group, message.entry_id, delete=self._queue.delete_dead
        )
        self._stream.forget_notes(self._queue.stream, message.message_id)
        log.warning("%s entry %s (message %s) dead-lettered as %s: %s", self._queue.name,
                    message.entry_id, message.message_id, stored.id, reason.value)
        return stored


def describe(error: BaseException) -> str:
    """An error as a dead letter records it: its type and message, cut to a readable length.
    (Platform errors never carry secrets in their messages: ``apex.errors``.)"""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 3] + "..."


__all__ = ["DeadLetterRouter", "describe"]
