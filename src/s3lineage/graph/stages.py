"""Snowflake stage → S3 URL, as it was when a statement ran.

Definitions come from SHOW STAGES (the current state) and from CREATE [OR REPLACE] STAGE
statements in QUERY_HISTORY (each replaces the previous one from its time on). A stage
reference resolves with the latest statement-time definition at or before the
statement's time; with none, the SHOW STAGES entry applies.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime

from s3lineage.model import DatasetKind, DatasetRef
from s3lineage.naming import join_s3, s3_ref, split_stage_name

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class _History:
    times: list[datetime] = field(default_factory=list)
    urls: list[str | None] = field(default_factory=list)
    current: str | None = None
    listed: bool = False  # SHOW STAGES knows it


class StageMap:
    """Time-aware stage definitions per account namespace."""

    def __init__(self) -> None:
        self._stages: dict[tuple[str, str], _History] = {}

    @staticmethod
    def _key(namespace: str, name: str) -> tuple[str, str]:
        return namespace, name.upper()

    def add_listed(self, namespace: str, name: str, url: str | None) -> None:
        """A SHOW STAGES row: the stage as it is now (url None for internal stages)."""
        history = self._stages.setdefault(self._key(namespace, name), _History())
        history.current = url
        history.listed = True

    def add_definition(self, namespace: str, name: str, url: str | None, when: datetime | None) -> None:
        """A CREATE [OR REPLACE] STAGE seen at ``when``."""
        history = self._stages.setdefault(self._key(namespace, name), _History())
        moment = _aware(when) or _EPOCH
        index = bisect.bisect_right(history.times, moment)
        history.times.insert(index, moment)
        history.urls.insert(index, url)

    def known(self, namespace: str, name: str) -> bool:
        return self._key(namespace, name) in self._stages

    def url_at(self, namespace: str, name: str, when: datetime | None) -> tuple[str | None, bool]:
        """(URL, known): the stage's URL at ``when``; known=False when the stage is unknown."""
        history = self._stages.get(self._key(namespace, name))
        if history is None:
            return None, False
        moment = _aware(when)
        if history.times and moment is not None:
            index = bisect.bisect_right(history.times, moment) - 1
            if index >= 0:
                return history.urls[index], True
        if history.listed:
            return history.current, True
        if history.times and moment is None:
            return history.urls[-1], True
        # Only defined after this statement ran: the definition in force is unknown,
        # but the first one seen is the best evidence we have.
        return (history.urls[0] if history.urls else None), True

    def boundaries(self, namespace: str, name: str) -> list[datetime]:
        history = self._stages.get(self._key(namespace, name))
        return list(history.times) if history else []

    def resolve(self, ref: DatasetRef, when: datetime | None) -> tuple[DatasetRef | None, str]:
        """A stage reference → S3 dataset. Status: resolved | unknown_stage | internal_stage."""
        if ref.kind is not DatasetKind.STAGE:
            return ref, "resolved"
        name, path = split_stage_name(ref.name)
        url, known = self.url_at(ref.namespace, name, when)
        if not known:
            return None, "unknown_stage"
        if not url:
            return None, "internal_stage"
        resolved = s3_ref(join_s3(url, path))
        return (resolved, "resolved") if resolved else (None, "unknown_stage")

    def __len__(self) -> int:
        return len(self._stages)


def _aware(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
