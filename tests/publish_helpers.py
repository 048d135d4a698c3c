"""Shared set-up of the publish tests: a demo copy configured for Atlan, a stand-in seeded as
native crawlers would have left it, a real pyatlan client, and a reader that turns the
stand-in's column processes back into graph column lineage (independently of the publisher).
"""

from __future__ import annotations

import csv
import shutil
from collections import defaultdict
from pathlib import Path

from httpx_retries import Retry
from pyatlan.client.atlan import AtlanClient

from s3lineage.testing.atlan_standin import AtlanStandIn

from .conftest import FIXTURES

PG_NS = "postgres://pg.demo.internal:5432"
SF_NS = "snowflake://fintech-prod"
EPOCHS = {"pg-prod": 1690000000, "pg-staging": 1690000099, "snowflake-prod": 1690000001,
          "snowflake-staging": 1690000098, "s3-lake": 1700000001, "s3lineage": 1700000002}


def demo_copy(tmp_path: Path, atlan: str = "", state: bool = True) -> Path:
    """fixtures/demo copied to tmp_path with atlan_connection on both sources and [atlan]."""
    shutil.copytree(FIXTURES / "demo", tmp_path / "demo")
    config = tmp_path / "demo" / "lineage.toml"
    text = config.read_text()
    text = text.replace('name = "pg-prod"\n', 'name = "pg-prod"\natlan_connection = "pg-prod"\n')
    text = text.replace('name = "snowflake-prod"\n',
                        'name = "snowflake-prod"\natlan_connection = "snowflake-prod"\n')
    text += ('\n[atlan]\ns3_connection = "s3-lake"\nlineage_connection = "s3lineage"\n'
             'retry_backoff_seconds = 0.01\n' + atlan)
    if state:
        text += '\n[state]\npath = "state/state.db"\nretention_days = 30\n'
    config.write_text(text)
    return config


def catalog(path: Path, upper: bool) -> dict[tuple[str, str, str], list[str]]:
    """Tables → columns from an information_schema.columns export."""
    tables: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            row = {k.lower(): v for k, v in row.items()}
            key = (row["table_catalog"], row["table_schema"], row["table_name"])
            tables[key].append((int(row["ordinal_position"]), row["column_name"]))
    return {k: [c for _, c in sorted(v)] for k, v in tables.items()}


def seed_demo(standin: AtlanStandIn, *, drop_pg: tuple[str, ...] = ()) -> dict[str, str]:
    """Connections as the demo's crawlers would have made them; returns name → QN.

    The staging connections carry the same table names (and every table, even the ones
    ``drop_pg`` removes from production), so a lookup that ignores the connection links them.
    """
    pg = catalog(FIXTURES / "demo" / "postgres" / "pg_columns.csv", upper=False)
    sf = catalog(FIXTURES / "demo" / "snowflake" / "sf_columns.csv", upper=True)
    prod_pg = {k: v for k, v in pg.items() if ".".join(k) not in drop_pg}
    qns = {
        "pg-prod": standin.seed_crawl("pg-prod", "postgres", EPOCHS["pg-prod"], prod_pg),
        "pg-staging": standin.seed_crawl("pg-staging", "postgres", EPOCHS["pg-staging"], pg),
        "snowflake-prod": standin.seed_crawl("snowflake-prod", "snowflake", EPOCHS["snowflake-prod"], sf),
        "snowflake-staging": standin.seed_crawl("snowflake-staging", "snowflake",
                                                EPOCHS["snowflake-staging"], sf),
        "s3-lake": standin.seed_connection("s3-lake", "s3", EPOCHS["s3-lake"]),
        "s3lineage": standin.seed_connection("s3lineage", "custom", EPOCHS["s3lineage"]),
    }
    return qns


def client_for(standin: AtlanStandIn, total: int = 2) -> AtlanClient:
    """A real pyatlan client on the stand-in; its own retries are fast (no backoff sleeps)."""
    retry = Retry(total=total, backoff_factor=0, respect_retry_after_header=True,
                  status_forcelist=[429, 500, 502, 503, 504],
                  allowed_methods=["HEAD", "GET", "OPTIONS", "POST", "PUT", "DELETE"])
    return AtlanClient(base_url=standin.url, api_key=standin.api_key, retry=retry)


def endpoint_of(standin: AtlanStandIn, qns: dict[str, str], guid: str) -> tuple[str, str]:
    """A column-level asset of the stand-in as (graph dataset id, field)."""
    asset = standin.assets[guid]
    attrs = asset["attributes"]
    if asset["typeName"] == "Column":
        namespace = {qns["pg-prod"]: PG_NS, qns["snowflake-prod"]: SF_NS}.get(
            attrs["connectionQualifiedName"], attrs["connectionQualifiedName"])
        table = attrs.get("tableName") or attrs.get("viewName")
        return f"{namespace}/{attrs['databaseName']}.{attrs['schemaName']}.{table}", attrs["name"]
    if asset["typeName"] == "PartialField":
        parent = standin.assets[attrs["partialParentAsset"]["guid"]]["attributes"]
        return f"s3://{parent['s3BucketName']}/{parent['s3ObjectKey']}", attrs["name"]
    raise AssertionError(f"a column process links a {asset['typeName']}: {attrs['qualifiedName']}")


def column_lineage(standin: AtlanStandIn, qns: dict[str, str]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    """Every (source column, target column) pair the ACTIVE column processes link."""
    pairs = set()
    for cp in standin.of_type("ColumnProcess"):
        for source in cp["attributes"]["inputs"]:
            for target in cp["attributes"]["outputs"]:
                pairs.add((endpoint_of(standin, qns, source["guid"]),
                           endpoint_of(standin, qns, target["guid"])))
    return pairs


def graph_column_lineage(graph, kinds=("export", "load", "unload", "import"), systems=None):
    """The graph's column lineage over the edges of ``kinds``."""
    pairs = set()
    for edge in graph.edges():
        if edge.kind not in kinds:
            continue
        if systems and (graph.node(edge.source).system, graph.node(edge.target).system) not in systems:
            continue
        for target, mapping in edge.columns.items():
            for source in mapping.sources:
                pairs.add((source, (edge.target, target)))
    return pairs
