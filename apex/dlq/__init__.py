"""The dead-letter queue: where a stream message goes after its queue's allowed deliveries, so
that it is never dropped and never retried forever, and how operators bring it back.

* :class:`DeliveryPolicy` decides, from a delivery's number (the stream's count: a consumer that
  died during a delivery used it up) and its error, whether to retry after a backoff or to
  dead-letter now (``policy.py``).
* :class:`DeadLetterRouter` is what a consumer calls around each delivery: ``admit``,
  ``failed``, ``succeeded`` (``router.py``); on the stream it holds a failed entry back for its
  backoff, and takes a dead-lettered one off (acknowledged, then deleted: ``stream.py``).
* :class:`DeadLetters` stores dead letters durably in PostgreSQL, once per stream entry, with
  their reason, attempts, first and last error, entry time and history, and lists, redrives
  (exactly once) and purges them by retention counted from their entry (``store.py``).
* :class:`Reconciliation` names every billed event missing from analytics (``reconcile.py``).
* ``python -m apex.dlq list|redrive|reconcile|purge``: the operators' commands (``cli.py``).
"""

from apex.dlq.errors import DeadLetterError, UnknownEntry, UnknownQueue, Unprocessable
from apex.dlq.policy import DeliveryPolicy, Reason, Verdict
from apex.dlq.queues import DeadLetterSettings, QueueName, QueueSpec
from apex.dlq.reconcile import Reconciliation, ReconciliationReport, TenantReconciliation
from apex.dlq.records import DeadLetter, DeliveryError, Message, State
from apex.dlq.router import DeadLetterRouter
from apex.dlq.store import DeadLetters, Redriven, RedriveOutcome, Stored

__all__ = [
    "DeadLetter", "DeadLetterError", "DeadLetterRouter", "DeadLetterSettings", "DeadLetters",
    "DeliveryError", "DeliveryPolicy", "Message", "QueueName", "QueueSpec", "Reason",
    "Reconciliation", "ReconciliationReport", "RedriveOutcome", "Redriven", "State", "Stored",
    "TenantReconciliation", "UnknownEntry", "UnknownQueue", "Unprocessable", "Verdict",
]
