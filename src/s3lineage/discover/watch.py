"""``s3lineage watch``: long-poll an SQS queue of S3 event notifications.

Each poll receives up to 10 messages (``WaitTimeSeconds`` long polling), applies their
events in one batch (:func:`s3lineage.discover.events.apply_events`: inventory update and
graph re-stitch) and only then deletes them: a batch that fails (the state lock is busy,
S3 cannot be read) stays on the queue and comes back after its visibility timeout, and
replaying it is harmless. Messages that hold no S3 event (an ``s3:TestEvent``) are
deleted; messages that are not JSON at all are left for the queue's redrive policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s3lineage.config import Config
from s3lineage.discover.events import EventReport, apply_events, is_test_event, parse_events
from s3lineage.discover.sources import ObjectStore, make_client
from s3lineage.errors import S3LineageError


@dataclass(slots=True)
class WatchReport:
    polls: int = 0
    messages: int = 0
    events: int = 0
    applied: int = 0
    ignored: int = 0
    unreadable: int = 0
    failed_batches: int = 0
    batches: list[EventReport] = field(default_factory=list)


def watch(cfg: Config, queue_url: str, *, max_polls: int | None = None, once: bool = False,
          wait_seconds: int = 20, client: Any = None, object_store: ObjectStore | None = None,
          log: Callable[[str], None] | None = None) -> WatchReport:
    """Poll until ``max_polls`` receives were made, or (``once``) the queue is empty."""
    sqs = client if client is not None else make_client(cfg.sections["s3"], "sqs")
    report = WatchReport()
    while max_polls is None or report.polls < max_polls:
        response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=wait_seconds)
        report.polls += 1
        messages = response.get("Messages", [])
        report.messages += len(messages)
        if not messages:
            if once:
                break
            continue
        done, events = [], []
        for message in messages:
            body = message.get("Body", "")
            try:
                json.loads(body)
            except ValueError:
                report.unreadable += 1
                if log:
                    log(f"message {message.get('MessageId')} is not JSON: left for the redrive policy")
                continue
            found = list(parse_events(body))
            if not found and not is_test_event(body) and log:
                log(f"message {message.get('MessageId')} holds no S3 object event: deleted")
            events.extend(found)
            done.append(message)
        try:
            batch = apply_events(cfg, events, object_store=object_store)
        except S3LineageError as err:
            report.failed_batches += 1
            if log:
                log(f"batch of {len(events)} event(s) not applied ({err}); it will be redelivered")
            if once:
                break
            continue
        report.batches.append(batch)
        report.events += len(events)
        report.applied += batch.applied
        report.ignored += batch.ignored
        if log:
            log(f"poll {report.polls}: {len(events)} event(s), {batch.applied} applied, "
                f"{batch.ignored} ignored" + (f", graph re-stitched ({batch.edges} edges)"
                                              if batch.restitched else ""))
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start:start + 10])])
    return report
