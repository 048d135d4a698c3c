"""Review decisions: accept/reject, the TOML file, re-review flags, marks in every export."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from s3lineage.audit import load_decisions
from s3lineage.audit.data import open_store
from s3lineage.audit.reviews import (
    Decision,
    ReviewError,
    decide,
    dumps_toml,
    evidence_hash,
    loads_toml,
)
from s3lineage.cli import main
from s3lineage.config import load_config
from s3lineage.export.formats import render, to_json_data
from s3lineage.pipeline import infer

from .audit_helpers import DIM_ACCOUNTS, USERS_EXPORT, USERS_LOAD, demo_copy, run_audited


@pytest.fixture
def demo(tmp_path):
    config = demo_copy(tmp_path)
    run_audited(config)
    return config


def cli(capsys, *args) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def decisions_of(config):
    store = open_store(load_config(config))
    try:
        return load_decisions(store)
    finally:
        store.close()


def test_reject_and_accept_from_the_cli_reach_load_decisions(demo, capsys):
    code, out = cli(capsys, "review", "reject", "appdb.public.users -> exports/users/dt={dt}/users.csv",
                    "--note", "test job, not production", "--config", str(demo), "--by", "ana")
    assert code == 0 and out.startswith("rejected")
    key = next(line.split()[1] for line in out.splitlines() if line.startswith("rejected"))
    code, _ = cli(capsys, "review", "accept", DIM_ACCOUNTS, "--config", str(demo))
    found = decisions_of(demo)
    assert set(found) == {USERS_EXPORT, DIM_ACCOUNTS}
    rejected = found[USERS_EXPORT]
    assert rejected.rejected and rejected.note == "test job, not production"
    assert rejected.decided_by == "ana" and not rejected.needs_review
    assert found[DIM_ACCOUNTS].accepted
    code, out = cli(capsys, "review", "list", "--config", str(demo))
    assert "test job, not production" in out and key in out
    code, out = cli(capsys, "review", "clear", key, "--config", str(demo))
    assert set(decisions_of(demo)) == {DIM_ACCOUNTS}
    code, out = cli(capsys, "review", "reject", "no.such -> thing", "--config", str(demo))
    assert code == 2 and "no dataset matches" in out


def test_changed_evidence_flags_the_decision_for_re_review(demo, capsys):
    store = open_store(load_config(demo))
    try:
        decide(store, USERS_LOAD, "accepted", "checked with the loader team")
        row = store.edges()[USERS_LOAD]
        data = json.loads(row["data"])
        data["evidence"]["run_count"] += 5  # the same statements ran again: no re-review
        data["evidence"]["query_ids"].append("01bextra")
        store.save_edge(row | {"data": json.dumps(data)})
        assert not load_decisions(store)[USERS_LOAD].needs_review
        data["columns"] = data["columns"][:2]  # the lineage itself changed: re-review
        store.save_edge(row | {"data": json.dumps(data)})
        assert load_decisions(store)[USERS_LOAD].needs_review
    finally:
        store.close()
    _code, out = cli(capsys, "audit", "--config", str(demo), "--status", "re-review")
    assert "1 of 20 edges" in out and "accepted (re-review)" in out
    _, out = cli(capsys, "explain", USERS_LOAD, "--config", str(demo))
    assert "EVIDENCE CHANGED since: re-review" in out


def test_evidence_hash_ignores_reruns_but_not_the_claim():
    edge = {"source": "a", "target": "b", "kind": "load", "confidence": 1.0, "match": "exact",
            "columns": [{"target": "X", "sources": [{"dataset": "a", "field": "x"}], "transform": "identity"}],
            "indirect": [], "evidence": {"fingerprints": ["f1"], "recognizers": ["r"], "run_count": 1,
                                         "query_ids": ["q1"], "last_seen": "2025-01-01T00:00:00+00:00"}}
    rerun = json.loads(json.dumps(edge))
    rerun["evidence"] |= {"run_count": 9, "query_ids": ["q1", "q2"], "last_seen": "2025-02-01T00:00:00+00:00"}
    assert evidence_hash(edge) == evidence_hash(rerun)
    for change in ({"confidence": 0.9}, {"match": "prefix"}, {"kind": "transform"}):
        assert evidence_hash(edge | change) != evidence_hash(edge)
    other = json.loads(json.dumps(edge))
    other["evidence"]["fingerprints"].append("f2")
    assert evidence_hash(other) != evidence_hash(edge)


def test_decisions_file_round_trips_through_toml(demo, tmp_path, capsys):
    cli(capsys, "review", "reject", USERS_EXPORT, "--note", 'quotes " and \\ and\nnewline, ünïcode',
        "--config", str(demo))
    cli(capsys, "review", "accept", DIM_ACCOUNTS, "--config", str(demo))
    path = tmp_path / "reviews.toml"
    code, out = cli(capsys, "review", "export", str(path), "--config", str(demo))
    assert code == 0 and "wrote 2 decision(s)" in out
    text = path.read_text()
    assert text.index(USERS_EXPORT) < text.index(DIM_ACCOUNTS)  # sorted by edge id: stable diffs
    parsed = {d.edge_id: d for d in loads_toml(text)}
    assert parsed[USERS_EXPORT].note == 'quotes " and \\ and\nnewline, ünïcode'
    # a second state store (another machine, a fresh checkout) imports the team's file
    other = demo_copy(tmp_path / "other")
    run_audited(other)
    code, out = cli(capsys, "review", "import", str(path), "--config", str(other))
    assert code == 0 and "imported 2 decision(s)" in out
    mine, theirs = decisions_of(demo), decisions_of(other)
    assert {k: (d.status, d.note, d.evidence_hash) for k, d in mine.items()} == \
        {k: (d.status, d.note, d.evidence_hash) for k, d in theirs.items()}
    assert not any(d.needs_review for d in theirs.values())
    # --replace drops decisions the file does not list
    path.write_text(dumps_toml([d for d in mine.values() if d.rejected]))
    code, out = cli(capsys, "review", "import", str(path), "--replace", "--config", str(other))
    assert "removed 1" in out and set(decisions_of(other)) == {USERS_EXPORT}


def test_bad_decision_files_say_which_entry(tmp_path):
    with pytest.raises(ReviewError, match="decision #2: 'status' must be"):
        loads_toml('[[decision]]\nedge = "a -> b"\nstatus = "rejected"\n'
                   '[[decision]]\nedge = "c -> d"\nstatus = "maybe"\n')
    with pytest.raises(ReviewError, match="unknown keys"):
        loads_toml('[[decision]]\nedge = "a -> b"\nstatus = "accepted"\ncolour = "red"\n')
    with pytest.raises(ReviewError, match="not TOML"):
        loads_toml("[[decision]\n")
    decision = loads_toml('[[decision]]\nedge = "a -> b"\nstatus = "accepted"\n'
                          'decided_at = 2025-01-02T03:04:05Z\n')[0]
    assert decision.decided_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert dumps_toml([Decision("a -> b", "accepted", "", decision.decided_at, "h")]).count("[[decision]]") == 1


# --- rejected edges are marked in every export -------------------------------------------------


def test_rejected_edges_are_marked_in_every_export(demo, capsys, tmp_path):
    cli(capsys, "review", "reject", USERS_EXPORT, "--note", "not ours", "--config", str(demo))
    outputs = {}
    for fmt in ("json", "mermaid", "dot", "graphml", "html"):
        target = tmp_path / f"graph.{fmt}"
        code, _ = cli(capsys, "report", "--config", str(demo), "--format", fmt, "-o", str(target))
        assert code == 0
        outputs[fmt] = target.read_text()
    doc = json.loads(outputs["json"])
    reviews = {e["id"]: e["review"] for e in doc["edges"]}
    assert reviews[USERS_EXPORT]["status"] == "rejected" and reviews[USERS_EXPORT]["note"] == "not ours"
    assert reviews[USERS_LOAD] is None and doc["version"] == "1.0"
    assert "REJECTED" in outputs["mermaid"] and "linkStyle" in outputs["mermaid"]
    assert "REJECTED" in outputs["dot"] and 'color="#c62828"' in outputs["dot"]
    assert "rejected" in outputs["graphml"]
    assert '"status":"rejected"' in outputs["html"]


def test_render_marks_reviews_on_an_in_memory_graph(demo):
    result = infer(load_config(demo))
    marks = {USERS_EXPORT: {"status": "rejected", "note": "x", "needs_review": False}}
    doc = to_json_data(result.graph, reviews=marks)
    assert {e["id"]: e["review"] for e in doc["edges"]}[USERS_EXPORT]["status"] == "rejected"
    assert "review" not in to_json_data(result.graph)["edges"][0]  # unchanged without reviews
    assert "REJECTED" in render("mermaid", result.graph, reviews=marks)
    assert "REJECTED" in render("dot", result.graph, reviews=marks)
    page = render("html", result.graph, result.diagnostics, result.stats, reviews=marks)
    assert page.startswith("<!DOCTYPE html>") and "http://" not in page.split("<script")[0]


def test_openlineage_leaves_rejected_edges_out(demo, capsys, tmp_path):
    cli(capsys, "review", "reject", USERS_EXPORT, "--config", str(demo))
    target = tmp_path / "events.jsonl"
    code, out = cli(capsys, "openlineage", "--config", str(demo), "-o", str(target))
    assert code == 0 and "19 event(s); 1 rejected/stale edge(s) left out" in out
    names = [json.loads(line)["job"]["name"] for line in target.read_text().splitlines()]
    assert not any("appdb.public.users->" in n for n in names)


def test_review_marks_for_a_config(demo, tmp_path):
    from s3lineage.audit.reviews import review_marks_for

    store = open_store(load_config(demo))
    try:
        decide(store, USERS_EXPORT, "rejected", "no")
    finally:
        store.close()
    marks = review_marks_for(load_config(demo))
    assert marks is not None and marks[USERS_EXPORT]["status"] == "rejected"
    assert review_marks_for(load_config(demo_copy(tmp_path / "none"))) is None  # no store yet
