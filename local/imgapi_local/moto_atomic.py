"""Making moto atomic where AWS is, for the local stack's many threads.

moto's in-memory AWS is not thread-safe where real AWS is: SQS's Queue.delete_message rebuilds the queue's message
list without its lock (two deletes at once bring a deleted message back; a send during a delete is lost) and
DynamoDB's transact_write_items deep-copies a table other threads are writing ("dictionary changed size during
iteration", a 500 from the quota check), and UpdateItem's handler copies an item another thread is updating. The
local stack serves requests and runs its queue workers on threads, so those operations are serialized while it
runs, as AWS makes them atomic.
"""
from __future__ import annotations

import threading
from typing import Callable

DYNAMODB_CALLS = ("get_item", "put_item", "update_item", "delete_item", "query", "scan", "transact_write_items",
                  "transact_get_items", "batch_write_item", "batch_get_item")


def make_atomic() -> Callable[[], None]:
    """Patch moto's backends; returns the function that puts them back."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.sqs.models import Queue

    originals: dict[tuple[type, str], Callable] = {}
    table_lock = threading.RLock()

    def locked(name: str) -> Callable:
        original = originals[(DynamoDBBackend, name)] = getattr(DynamoDBBackend, name)

        def call(self, *args, **kwargs):
            with table_lock:
                return original(self, *args, **kwargs)
        return call

    for name in DYNAMODB_CALLS:
        setattr(DynamoDBBackend, name, locked(name))
    # UpdateItem's response handler deep-copies the stored item outside the backend call (for ReturnValues): a
    # concurrent update adding an attribute made that copy fail ("dictionary changed size during iteration").
    from moto.dynamodb.responses import DynamoHandler

    handler_update = originals[(DynamoHandler, "update_item")] = DynamoHandler.update_item

    def update_under_the_table_lock(self, *args, **kwargs):
        with table_lock:
            return handler_update(self, *args, **kwargs)

    DynamoHandler.update_item = update_under_the_table_lock
    delete_message = originals[(Queue, "delete_message")] = Queue.delete_message

    def delete_under_the_queue_lock(self, receipt_handle):
        with self._messages_lock:  # the lock moto's own add_message takes
            return delete_message(self, receipt_handle)

    Queue.delete_message = delete_under_the_queue_lock

    def restore() -> None:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)

    return restore
