"""Carry out a plan: ordered, batched writes, retries, per-asset failures, archiving.

Order: buckets → objects → partial fields → processes → column processes (an asset may only
reference what is already stored), then archives (column processes before processes).
Each phase is written in batches of ``batch_size``. A batch Atlan rejects (400/404/409 …)
is split in halves until the offending assets are alone, so one bad asset fails itself
only, with Atlan's message as the reason, and the rest is published; throttling and 5xx
are retried by :class:`~s3lineage.publish.client.AtlanCalls`. An asset whose dependency
failed is not sent (it would be rejected anyway) and is reported as such.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from s3lineage.publish.assets import PHASES
from s3lineage.publish.client import AtlanCalls, PublishError, RejectedError, TransientError

# refused credentials fail every request alike: stop instead of bisecting the whole plan
_FATAL = (401, 403)
from s3lineage.publish.plan import Action, Plan


@dataclass(slots=True)
class Outcome:
    """What happened to each planned write/archive."""

    done: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)


class Executor:
    def __init__(self, calls: AtlanCalls, batch_size: int) -> None:
        self.calls = calls
        self.batch_size = max(1, batch_size)
        self.outcome = Outcome()
        self._failed_qns: set[str] = set()

    def run(self, plan: Plan) -> Outcome:
        writes = plan.writes
        for phase in PHASES:
            ready: list[Action] = []
            for action in (a for a in writes if a.phase == phase):
                blocked = [qn for qn in action.desired.depends_on if qn in self._failed_qns] if action.desired else []
                if blocked:
                    self._fail(action, f"not sent: {blocked[0]} failed")
                else:
                    ready.append(action)
            for batch in _chunks(ready, self.batch_size):
                self._save(batch)
        archives = plan.of("archive")
        for type_name in ("ColumnProcess", "Process"):
            for batch in _chunks([a for a in archives if a.type_name == type_name], self.batch_size):
                self._archive(batch)
        return self.outcome

    def _fail(self, action: Action, reason: str) -> None:
        self._failed_qns.add(action.qualified_name)
        self.outcome.failed.append((action, reason))

    def _save(self, batch: list[Action]) -> None:
        from pyatlan.model.enums import EntityStatus

        assets = []
        for action in batch:
            asset = action.desired.asset  # type: ignore[union-attr]
            if action.kind == "restore":
                asset.status = EntityStatus.ACTIVE  # an upsert with ACTIVE un-archives
            assets.append(asset)
        try:
            response = self.calls.call(f"save {len(batch)} asset(s)",
                                       lambda: self.calls.client.asset.save(assets))
        except RejectedError as err:
            if err.status in _FATAL:
                raise PublishError(f"Atlan refused the API key (HTTP {err.status}): {err}") from err
            if len(batch) > 1:  # find the culprit(s): halves until alone
                middle = len(batch) // 2
                self._save(batch[:middle])
                self._save(batch[middle:])
            else:
                self._fail(batch[0], f"rejected by Atlan (HTTP {err.status}): {err}")
            return
        except TransientError as err:
            for action in batch:
                self._fail(action, str(err))
            return
        # a 200 applies the whole request (Atlas bulk writes are atomic); Atlas leaves
        # entities whose update changed nothing out of mutatedEntities, so the plan, not the
        # response, says what each asset was
        del response
        self.outcome.done.extend(batch)

    def _archive(self, batch: list[Action]) -> None:
        guids = [a.guid for a in batch if a.guid]
        try:
            self.calls.call(f"archive {len(guids)} asset(s)",
                            lambda: self.calls.client.asset.delete_by_guid(guids))
        except RejectedError as err:
            if err.status in _FATAL:
                raise PublishError(f"Atlan refused the API key (HTTP {err.status}): {err}") from err
            if len(batch) > 1:
                middle = len(batch) // 2
                self._archive(batch[:middle])
                self._archive(batch[middle:])
            else:
                self._fail(batch[0], f"archive rejected by Atlan (HTTP {err.status}): {err}")
            return
        except TransientError as err:
            for action in batch:
                self._fail(action, str(err))
            return
        self.outcome.done.extend(batch)


def _chunks(items: list[Action], size: int) -> Iterator[list[Action]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
