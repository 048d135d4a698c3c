"""OpenLineage export: events validate against the spec (event schema + every facet used,
resolved locally), carry column lineage, and reach an HTTP endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from s3lineage.cli import main

from .audit_helpers import demo_copy, run_audited
from .conftest import ROOT

# The spec shared with the project, else the copy kept in fixtures/ (same files), so the
# validation never skips for want of a sibling folder.
SPEC = next((p for p in (ROOT.parent / "shared" / "openlineage-spec", ROOT / "fixtures" / "openlineage-spec")
             if (p / "OpenLineage.json").exists()), ROOT / "fixtures" / "openlineage-spec")
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    config = demo_copy(tmp_path_factory.mktemp("ol"))
    run_audited(config)
    return config


@pytest.fixture(scope="module")
def events(demo, tmp_path_factory):
    target = tmp_path_factory.mktemp("events") / "events.jsonl"
    assert main(["openlineage", "--config", str(demo), "-o", str(target)]) == 0
    return [json.loads(line) for line in target.read_text().splitlines()]


def _validator_for(registry, ref: str):
    from jsonschema import Draft202012Validator, FormatChecker

    return Draft202012Validator({"$ref": ref}, registry=registry, format_checker=FormatChecker())


@pytest.fixture(scope="module")
def registry():
    if not (SPEC / "OpenLineage.json").exists():
        pytest.skip(f"the OpenLineage spec is not at {SPEC}")
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def _facets(event):
    yield from event["run"].get("facets", {}).items()
    yield from event["job"].get("facets", {}).items()
    for dataset in event["inputs"] + event["outputs"]:
        yield from dataset.get("facets", {}).items()


def test_events_validate_against_the_spec_and_every_facet_schema(events, registry):
    assert len(events) == 20  # one RunEvent per process (edge)
    event_validator = _validator_for(registry, RUN_EVENT)
    used = set()
    for event in events:
        errors = sorted(event_validator.iter_errors(event), key=str)
        assert not errors, f"{event['job']['name']}: {errors[0].message}"
        assert event["schemaURL"] == RUN_EVENT
        for name, facet in _facets(event):
            url = facet["_schemaURL"]
            used.add(url.split("#")[0].rsplit("/", 1)[1])
            facet_errors = list(_validator_for(registry, url).iter_errors(facet))
            assert not facet_errors, f"{name} of {event['job']['name']}: {facet_errors[0].message}"
    assert {"ColumnLineageDatasetFacet.json", "SchemaDatasetFacet.json", "SymlinksDatasetFacet.json",
            "JobTypeJobFacet.json", "SQLJobFacet.json", "ProcessingEngineRunFacet.json",
            "DocumentationJobFacet.json"} <= used
    assert used <= {p.name for p in (SPEC / "facets").glob("*.json")}  # every facet was checked


def test_a_broken_event_does_not_validate(events, registry):
    event = json.loads(json.dumps(events[0]))
    del event["run"]["runId"]
    assert list(_validator_for(registry, RUN_EVENT).iter_errors(event))
    facet = json.loads(json.dumps(next(o for e in events for o in e["outputs"]
                                       if "columnLineage" in o["facets"])["facets"]["columnLineage"]))
    facet["fields"] = {"X": {"inputFields": [{"namespace": "n"}]}}  # name and field missing
    assert list(_validator_for(registry, facet["_schemaURL"]).iter_errors(facet))


def test_column_lineage_crosses_s3_in_the_events(events):
    by_job = {e["job"]["name"]: e for e in events}
    export = by_job["export:appdb.public.users->s3://fintech-lake/exports/users/dt={dt}/users.csv"]
    out = export["outputs"][0]
    assert (out["namespace"], out["name"]) == ("s3://fintech-lake", "exports/users/dt={dt}/users.csv")
    email = out["facets"]["columnLineage"]["fields"]["email"]["inputFields"]
    assert email[0] | {"transformations": None} == {
        "namespace": "postgres://pg.demo.internal:5432", "name": "appdb.public.users", "field": "email",
        "transformations": None}
    assert email[0]["transformations"][0]["type"] == "DIRECT"
    assert out["facets"]["symlinks"]["identifiers"][0] == {
        "namespace": "s3://fintech-lake", "name": "exports/users/", "type": "DIRECTORY"}
    assert "fintech-lake" not in export["job"]["facets"]["sql"]["query"]  # literals redacted
    load = by_job["load:s3://fintech-lake/exports/users/dt={dt}/users.csv->RAW.LANDING.USERS"]
    fields = load["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert fields["EMAIL"]["inputFields"][0]["name"] == "exports/users/dt={dt}/users.csv"
    mart = by_job["transform:RAW.LANDING.USERS->ANALYTICS.MARTS.DIM_USERS"]
    indirect = mart["outputs"][0]["facets"]["columnLineage"]["dataset"]
    assert {i["field"] for i in indirect} >= {"ID"} and indirect[0]["transformations"][0]["type"] == "INDIRECT"


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list] = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    handler = type("Handler", (_Collector,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_events_are_posted_to_an_openlineage_endpoint(demo, endpoint, monkeypatch, capsys):
    handler, url = endpoint
    monkeypatch.setenv("OPENLINEAGE_API_KEY", "secret-token")
    assert main(["openlineage", "--config", str(demo), "--url", url]) == 0
    assert len(handler.received) == 20
    assert {path for path, _, _ in handler.received} == {"/api/v1/lineage"}
    assert {auth for _, auth, _ in handler.received} == {"Bearer secret-token"}
    assert all(body["eventType"] == "COMPLETE" for _, _, body in handler.received)
    assert "sent 20 to" in capsys.readouterr().err


def test_a_failing_endpoint_is_reported(demo, endpoint, capsys):
    handler, url = endpoint
    handler.status = 500
    assert main(["openlineage", "--config", str(demo), "--url", url]) == 1
    assert "20 event(s) failed to send (HTTP 500)" in capsys.readouterr().err
