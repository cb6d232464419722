"""moto_server with SQS FIFO message-group blocking as AWS does it.

The stack's stand-in for AWS is moto 5.2.1, whose ReceiveMessage takes the
set of blocked FIFO groups ONCE per call: a long poll that began before
another receiver took message N of group G still hands out N+1 of G while N
is in flight, and two concurrent calls can pick messages without seeing each
other's (no lock). AWS hands out no message of a group while any message of
that group is in flight ("When you receive a message with a message group
ID, no more messages for the same message group ID are returned unless you
delete the message or it becomes visible", SQS Developer Guide, FIFO queue
logic). wgsync-remctl long-polls while it holds messages, so on stock
moto a message held by a killed consumer came back behind its successors.

This module replaces only `SQSBackend.receive_message` (same arguments, same
dead-letter move after maxReceiveCount, same retention period) so that:
- the blocked groups are computed afresh on every pass over the queue, from
  the messages received, not deleted and still invisible (in flight);
- a pass runs under the queue's own condition lock, so concurrent receives
  see each other's picks;
- one call may still return several messages of one group, in order (AWS
  does), as the group's first in-flight message is one of them;
- a long poll waits on the queue's condition, which deletes and visibility
  changes now notify too (a batch call once, after all its entries),
  instead of re-scanning while only blocked messages are visible;
- the retention period is checked from the queue's attribute (the same
  test; stock moto computes every queue attribute, a scan of the queue, for
  each message it hands out).

And one for speed, as AWS's SendMessage does not slow down as a queue fills:
moto's SQS models read the clock through `moto.core.utils.unix_time`, which
builds two datetimes per call, and SendMessage computes the queue's attributes
four times, each counting its messages with a clock read per message: 1,500
sends into one FIFO queue took 79-117 s, 88 % of it in clock reads, and 3.2 s
with `time.time()` as the models' current time (same value, seconds since the
epoch; tasks/BENCHMARKS.md). The chaos runs' backlogs made every publish slow
this way.

Everything else is stock moto. `tests/moto_fifo_test.ts` shows stock
moto_server handing out the later message and this one refusing it.

Usage: python3 moto_fifo.py [moto_server's arguments]
"""

import sys
import time
from copy import deepcopy

from moto.sqs import models
from moto.sqs.models import SQSBackend, _filter_message_attributes


def _in_flight_groups(queue):
    return {
        m.group_id
        for m in queue.pending_messages
        if m.group_id is not None and not m.visible
    }


def _pass(queue, count, visibility_timeout, names, result):
    """One pass over the queue's messages, under the queue's lock."""
    now_ms = models.unix_time_millis()
    retention_ms = int(queue.message_retention_period) * 1000
    blocked = _in_flight_groups(queue) if queue.fifo_queue else set()
    taken = set()
    to_dlq = []
    for message in list(queue._messages):
        group = message.group_id if queue.fifo_queue else None
        # The cheap test first: a long poll passes over a blocked group's
        # whole backlog each time it is woken.
        if group is not None and group in blocked and group not in taken:
            continue
        if not message.visible or message.delayed:
            continue
        if message in queue.pending_messages:
            # Visible again: its visibility timeout ended, it is not in flight.
            queue.pending_messages.remove(message)
        if (
            queue.dead_letter_queue is not None
            and queue.redrive_policy
            and message.approximate_receive_count
            >= queue.redrive_policy["maxReceiveCount"]
        ):
            # Moved to the dead-letter queue: its successor is the group's first.
            to_dlq.append(message)
            continue
        if message.sent_timestamp + retention_ms <= now_ms:
            # Past the retention period (stock moto's check computes every
            # queue attribute, a scan of all messages, per message it hands
            # out: ten scans for a receive of 10).
            continue
        queue.pending_messages.add(message)
        message.mark_received(visibility_timeout=visibility_timeout)
        if group is not None:
            blocked.add(group)
            taken.add(group)
        copy = deepcopy(message)
        _filter_message_attributes(copy, names)
        result.append(copy)
        if len(result) >= count:
            break
    for message in to_dlq:
        queue._messages.remove(message)
        queue.dead_letter_queue.add_message(message)


def receive_message(
    self,
    queue_name,
    count,
    wait_seconds_timeout,
    visibility_timeout,
    message_attribute_names=None,
):
    names = message_attribute_names or []
    queue = self.get_queue(queue_name)
    result = []
    polling_end = models.unix_time() + wait_seconds_timeout
    with queue._messages_lock:
        while True:
            _pass(queue, count, visibility_timeout, names, result)
            remaining = polling_end - models.unix_time()
            if result or remaining <= 0:
                return result
            # Woken by a send, delete or visibility change; a visibility
            # timeout ending wakes nobody, hence at most 1 s.
            queue._messages_lock.wait(timeout=min(1.0, remaining))


def _notifying(method):
    """`method` under the queue's lock, waking the long polls after it."""

    def wrapper(self, queue_name, *args, **kwargs):
        lock = self.get_queue(queue_name)._messages_lock
        with lock:
            try:
                return method(self, queue_name, *args, **kwargs)
            finally:
                lock.notify_all()

    return wrapper


_stock_unix_time = models.unix_time


def _unix_time(dt=None):
    return time.time() if dt is None else _stock_unix_time(dt)


def _unix_time_millis(dt=None):
    return _unix_time(dt) * 1000.0


models.unix_time = _unix_time
models.unix_time_millis = _unix_time_millis
SQSBackend.receive_message = receive_message
SQSBackend.delete_message = _notifying(SQSBackend.delete_message)
SQSBackend.change_message_visibility = _notifying(
    SQSBackend.change_message_visibility
)
# A batch under the lock as one change: the long polls wake once, after it.
SQSBackend.delete_message_batch = _notifying(SQSBackend.delete_message_batch)
SQSBackend.change_message_visibility_batch = _notifying(
    SQSBackend.change_message_visibility_batch
)
models.PATCHED_FIFO_GROUP_BLOCKING = True

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
