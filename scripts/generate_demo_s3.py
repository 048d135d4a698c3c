"""Regenerate fixtures/demo/s3/: the demo bucket ``fintech-lake`` as a local mirror.

Small real files for every object the demo's SQL writes or loads (CSV with the header
lines the exports produce, the vendor's fx_rates drop, the Snowflake unload of
DIM_USERS as a real Parquet file written with pyarrow), plus ONE deliberately drifted
file: ``exports/users/dt=2025-01-16/users.csv``, whose header renames ``country`` to
``country_code`` and adds ``marketing_opt_in``. ``.s3meta.json`` pins each object's
last-modified time to the moment the demo's story wrote it (a checkout resets mtimes).

    python scripts/generate_demo_s3.py [--out fixtures/demo/s3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "fintech-lake"

USERS = ["id,email,full_name,country,created_at"]
DRIFTED_USERS = ["id,email,full_name,country_code,created_at,marketing_opt_in"]
PEOPLE = [("ana@example.com", "Ana Lima", "BR"), ("bo@example.com", "Bo Berg", "SE"),
          ("chen@example.com", "Chen Wei", "SG"), ("dara@example.com", "Dara Okafor", "NG")]


def users(day: int, drifted: bool = False) -> str:
    lines = list(DRIFTED_USERS if drifted else USERS)
    for n, (email, name, country) in enumerate(PEOPLE, start=1):
        row = f"{day * 100 + n},{email},{name},{country},2025-01-{day:02d} 00:{n:02d}:00+00"
        lines.append(row + (",true" if drifted and n % 2 else ",false" if drifted else ""))
    return "\n".join(lines) + "\n"


FILES: dict[str, tuple[str, str]] = {
    # key: (content, last_modified)
    "exports/users/dt=2025-01-14/users.csv": (users(14), "2025-01-14T01:00:01+00:00"),
    "exports/users/dt=2025-01-15/users.csv": (users(15), "2025-01-15T01:00:01+00:00"),
    "exports/users/dt=2025-01-16/users.csv": (users(16, drifted=True), "2025-01-16T01:00:01+00:00"),
    "exports/accounts/accounts_2025-01-15.csv": (
        ("id,user_id,currency,status,opened_at\n1,1401,EUR,active,2024-03-02 10:00:00+00\n"
        "2,1402,SEK,active,2024-05-17 09:30:00+00\n3,1403,SGD,frozen,2024-08-01 12:00:00+00\n"),
        "2025-01-15T01:30:01+00:00"),
    "exports/transactions/2025/01/15/part-000.csv": (
        ("id,account_id,merchant_id,amount,currency,created_at\n"
        "9001,1,11,42.50,EUR,2025-01-15 00:01:00+00\n9002,2,12,199.00,SEK,2025-01-15 00:02:00+00\n"),
        "2025-01-15T01:30:02+00:00"),
    "exports/transactions/2025/01/15/part-001.csv": (
        ("id,account_id,merchant_id,amount,currency,created_at\n"
        "9003,3,11,7.25,SGD,2025-01-15 00:03:00+00\n"),
        "2025-01-15T01:30:03+00:00"),
    "exports/merchants/merchants.csv": (
        "id,name,category,country\n11,Corner Cafe,food,DE\n12,Nordic Rail,travel,SE\n",
        "2025-01-15T01:40:01+00:00"),
    "exports/daily_balances/daily_balances_2025-01-15.csv": (
        "account_id,day,balance_change\n1,2025-01-15,-42.50\n2,2025-01-15,-199.00\n",
        "2025-01-15T01:50:01+00:00"),
    # exported with options 'format csv' (no header true): the file has no header line
    "exports/audit_log/audit_log.csv": (
        "1,svc_export,login,2025-01-15 01:54:00+00\n2,ana,update_email,2025-01-15 01:54:30+00\n",
        "2025-01-15T01:55:01+00:00"),
    # the vendor's drop: nobody we read writes it; Snowflake loads it
    "vendor/fx_rates/fx_2025-01-15.csv": (
        "currency,rate,as_of\nEUR,1.0000,2025-01-15\nSEK,0.0873,2025-01-15\nSGD,0.6801,2025-01-15\n",
        "2025-01-15T02:00:00+00:00"),
}
PARQUET_KEY = "reports/dim_users/data_0_0_0.snappy.parquet"
PARQUET_MODIFIED = "2025-01-15T03:10:02+00:00"
PARQUET_ROWS = 1204  # QUERY_HISTORY's ROWS_UNLOADED for the unload


def dim_users() -> pa.Table:
    countries = ["BR", "SE", "SG", "NG", "DE"]
    return pa.table({
        "USER_ID": pa.array(range(1, PARQUET_ROWS + 1), pa.int64()),
        "COUNTRY": pa.array([countries[i % 5] for i in range(PARQUET_ROWS)], pa.string()),
        "ACCOUNT_COUNT": pa.array([1 + i % 3 for i in range(PARQUET_ROWS)], pa.int64()),
    })


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "fixtures" / "demo" / "s3")
    args = parser.parse_args(argv)
    meta = {}
    for key, (content, modified) in FILES.items():
        path = args.out / BUCKET / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        meta[f"{BUCKET}/{key}"] = {"last_modified": modified, "content_type": "text/csv"}
    path = args.out / BUCKET / PARQUET_KEY
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(dim_users(), path, compression="snappy")
    meta[f"{BUCKET}/{PARQUET_KEY}"] = {"last_modified": PARQUET_MODIFIED,
                                       "content_type": "application/octet-stream"}
    (args.out / ".s3meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(meta)} objects under {args.out / BUCKET}")


if __name__ == "__main__":
    main()
