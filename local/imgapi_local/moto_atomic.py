"""Making moto atomic where AWS is: for the local stack's many threads, and for the tests' in-memory AWS alike.

moto's in-memory AWS is not thread-safe where real AWS is:
- DynamoDB's transact_write_items reads each item, checks its condition and writes it in separate steps, rolls back
  a failed one to a copy taken before other transactions wrote (their writes are lost: a limit of 5 admits 8), and
  deep-copies a table other threads are writing ("dictionary changed size during iteration", a 500); and a read
  (GetItem, Query, Scan) turns the stored item into its answer after the backend has let go of it, while another
  request may be changing that very item (the same RuntimeError);
- SQS's Queue.delete_message rebuilds the queue's message list without its lock (two deletes at once bring a
  deleted message back; a message sent during a delete is lost), and receive_message checks that a message is
  visible and marks it received in separate steps (two receivers get the same message, and one of them then
  fails with ReceiptHandleIsInvalid).

`atomic_moto()` serializes those operations, as AWS makes them atomic: every DynamoDB request, from its parsing to its
answer, runs under one lock (and so does every call of the backend's item operations, for callers inside moto), and
every SQS call that reads or changes a queue's messages runs under that queue's own lock (the one moto's
add_message takes). It is written once and used by both the local stack (devserver.py) and the tests' in-memory
AWS (tests/conftest.py), so the two run on the same guarantees. The patch is on moto's classes, so it holds for
every backend (the in-process mock and the moto server share them); nested uses are counted, and moto is put back
as it was when the last one ends.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

DYNAMODB_CALLS = ("get_item", "put_item", "update_item", "delete_item", "query", "scan", "transact_write_items",
                  "transact_get_items", "batch_write_item", "batch_get_item")
# SQSBackend methods that read or change a queue's messages (each takes the queue's name first).
SQS_CALLS = ("receive_message", "delete_message", "delete_message_batch", "change_message_visibility",
             "change_message_visibility_batch", "purge_queue")

_state = threading.Lock()
_users = 0
_restore: Callable[[], None] | None = None


def _patch() -> Callable[[], None]:
    """Patch moto's backends; returns the function that puts them back."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.models import Queue, SQSBackend

    originals: dict[tuple[type, str], Callable] = {}
    table_lock = threading.RLock()

    def dynamodb_locked(name: str) -> Callable:
        original = originals[(DynamoDBBackend, name)] = getattr(DynamoDBBackend, name)

        def call(self, *args, **kwargs):
            with table_lock:
                return original(self, *args, **kwargs)
        call.__wrapped__ = original
        return call

    for name in DYNAMODB_CALLS:
        setattr(DynamoDBBackend, name, dynamodb_locked(name))

    # A request is answered from the stored items themselves: the answer must be made under the lock too.
    call_action = originals[(DynamoHandler, "call_action")] = DynamoHandler.call_action

    def request_under_the_table_lock(self, *args, **kwargs):
        with table_lock:
            return call_action(self, *args, **kwargs)

    DynamoHandler.call_action = request_under_the_table_lock

    def sqs_locked(name: str) -> Callable:
        original = originals[(SQSBackend, name)] = getattr(SQSBackend, name)

        def call(self, queue_name, *args, **kwargs):
            # The queue's Condition (over an RLock): receive_message's long poll waits on it, which releases it.
            with self.get_queue(queue_name)._messages_lock:
                return original(self, queue_name, *args, **kwargs)
        call.__wrapped__ = original
        return call

    for name in SQS_CALLS:
        setattr(SQSBackend, name, sqs_locked(name))

    # Deletes that do not come through the backend (an event source mapping's) take the lock too.
    delete_message = originals[(Queue, "delete_message")] = Queue.delete_message

    def delete_under_the_queue_lock(self, receipt_handle):
        with self._messages_lock:
            return delete_message(self, receipt_handle)

    Queue.delete_message = delete_under_the_queue_lock

    def restore() -> None:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)

    return restore


@contextmanager
def atomic_moto() -> Iterator[None]:
    """While inside, moto's DynamoDB and SQS operations are atomic as AWS's are. Nestable, from any thread."""
    global _users, _restore
    with _state:
        if _users == 0:
            _restore = _patch()
        _users += 1
    try:
        yield
    finally:
        with _state:
            _users -= 1
            if _users == 0 and _restore is not None:
                _restore()
                _restore = None


def is_atomic() -> bool:
    """Whether moto is patched now (for tests that depend on it)."""
    return _users > 0


def make_atomic() -> Callable[[], None]:
    """atomic_moto() without a with block: enter now; returns the function that leaves."""
    context = atomic_moto()
    context.__enter__()
    left = threading.Event()

    def leave() -> None:
        if not left.is_set():
            left.set()
            context.__exit__(None, None, None)
    return leave
