"""One consumer-group framework for every consumer of a Redis stream in the platform (the
analytics sink, the orchestration workers, and later the dead-letter queue).

A :class:`ConsumerGroup` is one consumer's view of a stream's group: it creates the group (and
creates it again when the store lost it), reads new entries and claims entries another consumer
left pending too long, reports how many times each entry has been delivered, acknowledges, and
tells its health. :class:`ClaimKeeper` keeps a consumer's claim on an entry alive (a heartbeat,
on real time) while its handler works, so only a dead consumer's entries are claimed by others.
:class:`SupervisedLoops` runs a consumer's loops on threads, restarts a loop
that died, and says whether every loop is really serving.
"""

from apex.streams.errors import StreamError
from apex.streams.group import ConsumerGroup, Delivery, GroupHealth
from apex.streams.lease import ClaimKeeper
from apex.streams.loops import LoopHealth, SupervisedLoops

__all__ = [
    "ClaimKeeper", "ConsumerGroup", "Delivery", "GroupHealth", "LoopHealth", "StreamError",
    "SupervisedLoops",
]
