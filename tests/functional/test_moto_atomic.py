"""The tests' in-memory AWS is atomic where AWS is (imgapi_local.moto_atomic, the same patch the local stack uses).

Most cases force the interleaving that breaks moto: two threads are held at a barrier inside the operation, at the
point where moto has read but not yet written. With the patch, the second thread cannot get in while the first is
inside (it waits for the lock), so the barrier times out and the two run one after the other: the outcome is AWS's.
Without the patch both reach the barrier and the race happens every time; the `moto_alone` cases show that, so
these tests cannot pass by luck (and say so when a moto release makes the patch unnecessary). The rest race many
threads with a switch every microsecond (each fails without the patch in practically every run).
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from imgapi_local.moto_atomic import atomic_moto, is_atomic

REGION = "us-east-1"
# With the patch the first thread waits this long at the barrier for a second thread that cannot come.
PATCHED_WAIT = 1.0
# Without it both threads must meet there, however busy the machine is.
UNPATCHED_WAIT = 30.0


@contextmanager
def instance_attribute(obj, name: str, value):
    """Shadow a method on one object (not its class, which moto_atomic patches) for the duration."""
    setattr(obj, name, value)
    try:
        yield
    finally:
        delattr(obj, name)


class Meeting:
    """Holds each of the test's threads, once, at a barrier of two; a timeout lets it go on alone."""

    def __init__(self, wait: float):
        self.barrier = threading.Barrier(2, timeout=wait)
        self.threads: set[threading.Thread] = set()
        self.met = 0
        self._seen: set[int] = set()
        self._lock = threading.Lock()

    def __call__(self) -> None:
        me = threading.current_thread()
        with self._lock:
            if me not in self.threads or me.ident in self._seen:
                return
            self._seen.add(me.ident)
        try:
            self.barrier.wait()
            with self._lock:
                self.met += 1
        except threading.BrokenBarrierError:
            pass

    def run(self, *targets) -> None:
        threads = [threading.Thread(target=target) for target in targets]
        self.threads.update(threads)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads)


# -- DynamoDB: a conditional transaction --------------------------------------------------------------------------

def _counter_table() -> str:
    boto3.client("dynamodb").create_table(
        TableName="atomic-counters", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "counter", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "counter", "KeyType": "HASH"}])
    return "atomic-counters"


def _admit(table: str, outcomes: list[str], limit: int = 1) -> None:
    """quotas.admit_job's transaction: add one unless the counter is at its limit."""
    try:
        boto3.client("dynamodb").transact_write_items(TransactItems=[{"Update": {
            "TableName": table, "Key": {"counter": {"S": "c"}}, "UpdateExpression": "ADD #n :one",
            "ConditionExpression": "attribute_not_exists(#n) OR #n < :limit",
            "ExpressionAttributeNames": {"#n": "used"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(limit)}}}}])
        outcomes.append("admitted")
    except ClientError as exc:
        outcomes.append(exc.response["Error"]["Code"])


def _two_concurrent_admits(wait: float) -> tuple[list[str], int, int]:
    """Two transactions against a limit of 1, both held after reading the counter: (outcomes, counter, met)."""
    from moto.dynamodb.models import dynamodb_backends

    table = _counter_table()
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    meeting, read = Meeting(wait), backend.get_item

    def read_then_meet(*args, **kwargs):  # the transaction's condition check reads the item here
        item = read(*args, **kwargs)
        meeting()
        return item

    outcomes: list[str] = []
    with instance_attribute(backend, "get_item", read_then_meet):
        meeting.run(lambda: _admit(table, outcomes), lambda: _admit(table, outcomes))
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"counter": {"S": "c"}}).get("Item")
    return sorted(outcomes), int(item["used"]["N"]) if item else 0, meeting.met


def test_the_tests_stack_is_atomic_as_the_local_stack_is(stack):
    assert is_atomic()


def test_a_conditional_transaction_never_over_admits(stack):
    outcomes, used, met = _two_concurrent_admits(PATCHED_WAIT)
    assert outcomes == ["TransactionCanceledException", "admitted"] and used == 1
    assert met == 0  # the second transaction waited for the first to finish


def test_moto_alone_over_admits_under_the_same_interleaving():
    assert not is_atomic()
    with mock_aws():
        outcomes, used, met = _two_concurrent_admits(UNPATCHED_WAIT)
    assert met == 2, "the two transactions did not meet inside moto"
    # Both pass the condition on what they read. moto 5.2 then has the second one's write check the condition again,
    # fail, and "roll back" to the copy of the table it took before the first one wrote: the first admission is
    # lost, so the limit admits again (how 8 got in against a limit of 5). Or both are admitted. Never AWS's answer.
    assert (outcomes, used) != (["TransactionCanceledException", "admitted"], 1), (
        "moto's transact_write_items is atomic now: moto_atomic may no longer need to patch it")
    assert used != outcomes.count("admitted") or used > 1


@contextmanager
def frequent_thread_switches():
    """Threads switch every microsecond instead of every 5 ms: a race that needs an unlucky switch gets many."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def test_reads_never_see_an_item_another_request_is_changing(stack):
    """moto answers GetItem and Scan from the stored item itself; without the lock around the whole request, an
    update adding and removing attributes meanwhile fails the read with "dictionary changed size during iteration"
    (this is what failed the DashScope in-flight test now and then)."""
    table = _counter_table()
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"counter": {"S": "c"}})
    errors: list[str] = []
    done = threading.Event()

    def write():
        client = boto3.client("dynamodb")
        try:
            for i in range(200):
                client.update_item(TableName=table, Key={"counter": {"S": "c"}},
                                   UpdateExpression=f"SET a{i % 40} = :v REMOVE a{(i + 20) % 40}",
                                   ExpressionAttributeValues={":v": {"N": str(i)}})
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            done.set()

    def read():
        client = boto3.client("dynamodb")
        while not done.is_set():
            try:
                client.get_item(TableName=table, Key={"counter": {"S": "c"}})
                client.scan(TableName=table)
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
    with frequent_thread_switches():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert errors == []


# -- SQS: two receivers, and a delete beside a send and another delete -----------------------------------------

def _queue() -> tuple[str, str]:
    url = boto3.client("sqs").create_queue(QueueName="atomic-queue", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    return url, "atomic-queue"


def _moto_queue(name: str):
    from moto.sqs.models import sqs_backends

    return sqs_backends[DEFAULT_ACCOUNT_ID][REGION].get_queue(name)


def _two_concurrent_receives(wait: float) -> tuple[list[str], int]:
    """Two receivers of a queue holding one message, both held after seeing it visible: (ids received, met)."""
    url, name = _queue()
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody="only")
    message = _moto_queue(name)._messages[0]
    meeting, mark = Meeting(wait), message.mark_received

    def meet_then_mark(*args, **kwargs):  # receive_message found it visible; now it marks it received
        meeting()
        return mark(*args, **kwargs)

    received: list[str] = []

    def receive():
        received.extend(m["MessageId"] for m in boto3.client("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0).get("Messages", []))

    with instance_attribute(message, "mark_received", meet_then_mark):
        meeting.run(receive, receive)
    return received, meeting.met


def test_a_message_goes_to_one_receiver_only(stack):
    received, met = _two_concurrent_receives(PATCHED_WAIT)
    assert len(received) == 1 and met == 0


def test_moto_alone_gives_one_message_to_two_receivers():
    assert not is_atomic()
    with mock_aws():
        received, met = _two_concurrent_receives(UNPATCHED_WAIT)
    assert met == 2, "the two receives did not meet inside moto"
    assert len(received) == 2, "moto's receive_message is atomic now: moto_atomic may no longer need to patch it"


def _two_deletes_and_a_send(wait: float) -> tuple[list[str], int]:
    """Messages a, b, c. Two threads delete `a` and `b` at once, and meet while rebuilding the queue's list (at `c`,
    the last one each asks); the first then finishes, `d` is sent, and only then does the second go on:
    (bodies left in the queue, met)."""
    url, name = _queue()
    sqs = boto3.client("sqs")
    for body in "abc":
        sqs.send_message(QueueUrl=url, MessageBody=body)
    handles = {m["Body"]: m["ReceiptHandle"] for m in
               sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]}
    assert sorted(handles) == ["a", "b", "c"]

    def delete(body):
        return lambda: boto3.client("sqs").delete_message(QueueUrl=url, ReceiptHandle=handles[body])

    first, second = threading.Thread(target=delete("a")), threading.Thread(target=delete("b"))
    meeting, sent = Meeting(wait), threading.Event()
    meeting.threads.update([first, second])
    last = next(m for m in _moto_queue(name)._messages if m.body == "c")
    check = last.had_receipt_handle

    def meet_then_check(handle):  # delete_message asks every message whether the handle is its own, `c` last
        meeting()
        if threading.current_thread() is second:
            sent.wait(wait)
        return check(handle)

    def send():
        first.join(90)
        boto3.client("sqs").send_message(QueueUrl=url, MessageBody="d")
        sent.set()

    sender = threading.Thread(target=send)
    with instance_attribute(last, "had_receipt_handle", meet_then_check):
        for thread in (first, second, sender):
            thread.start()
        for thread in (first, second, sender):
            thread.join(90)
    left = sorted(m.body for m in _moto_queue(name)._messages)
    return left, meeting.met


def test_concurrent_deletes_and_a_send_lose_nothing_and_bring_nothing_back(stack):
    left, met = _two_deletes_and_a_send(PATCHED_WAIT)
    assert left == ["c", "d"] and met == 0


def test_moto_alone_brings_back_a_deleted_message_and_loses_a_sent_one():
    assert not is_atomic()
    with mock_aws():
        left, met = _two_deletes_and_a_send(UNPATCHED_WAIT)
    assert met == 2, "the two deletes did not meet inside moto"
    assert left == ["a", "c"], (
        f"moto's delete_message is atomic now ({left} left): moto_atomic may no longer need to patch it")


def test_the_patch_nests_and_is_undone_by_the_last_user():
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    with atomic_moto():
        patched = DynamoDBBackend.transact_write_items
        assert patched is not original and is_atomic()
        with atomic_moto():
            assert DynamoDBBackend.transact_write_items is patched
        assert DynamoDBBackend.transact_write_items is patched and is_atomic()
    assert DynamoDBBackend.transact_write_items is original and not is_atomic()


@pytest.mark.parametrize("threads", [12, 40])
def test_many_concurrent_conditional_transactions_admit_exactly_the_limit(stack, threads):
    """The quota's own transaction, from many threads at once: no forced interleaving, only frequent switches."""
    table = _counter_table()
    outcomes: list[str] = []
    start = threading.Barrier(threads)

    def one():
        start.wait(30)
        _admit(table, outcomes, limit=5)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    with frequent_thread_switches():
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
    assert outcomes.count("admitted") == 5 and outcomes.count("TransactionCanceledException") == threads - 5
