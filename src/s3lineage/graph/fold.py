"""Fold partitioned S3 keys into one logical dataset per key template.

``exports/users/dt=2025-01-15/users.csv`` and ``…/dt=2025-01-16/users.csv`` are two
objects of one dataset, ``exports/users/dt={dt}/users.csv``. The default rules cover Hive
partitions, date paths, dated file names, Spark/Snowflake part files and run ids; users
add their own (``[graph] fold_rules``), which run first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from s3lineage.config import FoldRule

_DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    # Hive-style partition directories: dt=2025-01-15/, region=eu/
    (r"(?<=/)([A-Za-z_][A-Za-z0-9_]*)=[^/]+(?=/)", r"\1={\1}"),
    (r"^([A-Za-z_][A-Za-z0-9_]*)=[^/]+(?=/)", r"\1={\1}"),
    # Date paths: 2025/01/15/ (optionally /HH/)
    (r"(?<![0-9])(?:19|20)\d{2}/(?:0[1-9]|1[0-2])/(?:0[1-9]|[12]\d|3[01])(?:/(?:[01]\d|2[0-3]))?(?=/)",
     "{date_path}"),
    # UUIDs and long hex run ids
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "{run_id}"),
    (r"(?<![0-9A-Za-z])[0-9a-f]{16,}(?![0-9A-Za-z])", "{run_id}"),
    # Dates and timestamps inside names: _2025-01-15, -20250115, 2025-01-15T10:00:00Z
    (r"(?<![0-9])(?:19|20)\d{2}-?(?:0[1-9]|1[0-2])-?(?:0[1-9]|[12]\d|3[01])"
     r"(?:[T_ -]?\d{2}[:-]?\d{2}(?:[:-]?\d{2})?(?:\.\d+)?Z?)?(?![0-9])", "{date}"),
    # Epoch timestamps (10 or 13 digits)
    (r"(?<![0-9])1\d{9}(?:\d{3})?(?![0-9])", "{epoch}"),
    # Part files: part-00000, part-000-<uuid>, data_0_0_0 (Snowflake unload)
    (r"(?<=part)[-_]\d+", "-{n}"),
    (r"(?<=data)(?:_\d+)+", "_{n}"),
    (r"(?<=[._-])\d{1,5}(?=\.(?:csv|tsv|json|jsonl|parquet|avro|orc|txt|gz|snappy|zst))", "{n}"),
)


def default_rules() -> tuple[FoldRule, ...]:
    return tuple(FoldRule(re.compile(p), r) for p, r in _DEFAULT_RULES)


class Folder:
    """Maps an S3 key to its dataset template.

    >>> f = Folder()
    >>> f.template("exports/users/dt=2025-01-15/users.csv")
    'exports/users/dt={dt}/users.csv'
    >>> f.template("exports/transactions/2025/01/15/part-000.csv")
    'exports/transactions/{date_path}/part-{n}.csv'
    >>> f.template("exports/accounts/accounts_2025-01-15.csv")
    'exports/accounts/accounts_{date}.csv'
    >>> f.template("exports/merchants/merchants.csv")
    'exports/merchants/merchants.csv'
    """

    def __init__(self, user_rules: Iterable[FoldRule] = (), enabled: bool = True) -> None:
        self.rules = (*user_rules, *default_rules()) if enabled else tuple(user_rules)
        self._cache: dict[str, str] = {}

    def template(self, key: str) -> str:
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        folded = key
        for rule in self.rules:
            folded = rule.pattern.sub(rule.replace, folded)
        if len(self._cache) < 1_000_000:
            self._cache[key] = folded
        return folded
