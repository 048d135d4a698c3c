"""Why an edge exists: the statements behind it, the recognizer, the confidence and
what lowered it, and the SQL (literals redacted unless asked).

For a column, :func:`explain` also walks its full upstream path hop by hop — e.g.
``ANALYTICS.MARTS.DIM_USERS.EMAIL ← RAW.LANDING.USERS.EMAIL ← s3://…/users.csv.email ←
appdb.public.users.email`` — and explains every edge on the way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from s3lineage.audit.data import AuditData, Edge, Target
from s3lineage.audit.reviews import Decision
from s3lineage.audit.statements import statement_texts
from s3lineage.graph.build import MATCH_FACTORS
from s3lineage.model import DatasetKind, DatasetRef

MAX_SQL_PER_EDGE = 3
_MATCH_REASONS = {
    "pattern": "the load's files were tied to the export by location + PATTERN/FILES, not by name",
    "prefix": "the load reads a whole prefix the export writes under (no file named)",
}


@dataclass(slots=True)
class Group:
    """A statement group from the state store (one resolved statement, all its runs)."""

    recognizer: str | None
    confidence: float
    diagnostics: list[list[Any]]
    datasets: set[str]
    evidence: dict[str, Any]


@dataclass(slots=True)
class Hop:
    """One step of a column's upstream path: ``target ← source`` through ``edge``."""

    depth: int
    target: tuple[str, str]
    source: tuple[str, str]
    edge: str
    transform: str


@dataclass(slots=True)
class Explanation:
    target: Target
    edges: list[dict[str, Any]] = field(default_factory=list)
    upstream: list[Hop] = field(default_factory=list)  # columns only
    downstream: list[Hop] = field(default_factory=list)  # columns only: the next hop

    def to_json(self) -> dict[str, Any]:
        t = self.target
        head: dict[str, Any] = {"kind": t.kind, "name": t.label}
        if t.dataset is not None:
            head["dataset"] = t.dataset.id
        if t.column is not None:
            head["column"] = t.column
        return {
            "target": head,
            "upstream": [_hop_json(h) for h in self.upstream],
            "downstream": [_hop_json(h) for h in self.downstream],
            "edges": self.edges,
        }


def _hop_json(hop: Hop) -> dict[str, Any]:
    return {"depth": hop.depth, "edge": hop.edge, "transform": hop.transform,
            "target": {"dataset": hop.target[0], "field": hop.target[1]},
            "source": {"dataset": hop.source[0], "field": hop.source[1]}}


def _ref_id(data: list[str]) -> str:
    return DatasetRef(data[0], data[1], DatasetKind(data[2])).id


def groups_for(store: Any, edge: Edge) -> list[Group]:
    """The statement groups that produced ``edge``: they share a statement fingerprint and
    read or write one of its ends (an export's group names the object, not the folded
    dataset, so one end is enough)."""
    if store is None:
        return []
    found: dict[str, Group] = {}
    ends = {edge.source, edge.target}
    for fingerprint in edge.evidence.get("fingerprints", []):
        for key, resolution, evidence in store.db.execute(
                "SELECT key, resolution, evidence FROM groups WHERE instr(evidence, ?) > 0",
                (f'"{fingerprint}"',)):
            if key in found:
                continue
            res = json.loads(resolution)
            datasets = {_ref_id(d) for d in (*res["inputs"], *res["outputs"])}
            if not datasets & ends:
                continue
            found[key] = Group(res["recognizer"], float(res["confidence"]), res["diagnostics"],
                               datasets, json.loads(evidence))
    return sorted(found.values(), key=lambda g: (g.evidence.get("first_seen") or "", g.recognizer or ""))


def lowered_by(edge: Edge, groups: list[Group]) -> list[dict[str, Any]]:
    """Reasons the edge's confidence is below 1, each with its factor."""
    reasons: list[dict[str, Any]] = []
    match = edge.data.get("match")
    factor = MATCH_FACTORS.get(match or "", 1.0)
    if factor < 1.0:
        reasons.append({"factor": factor, "reason": f"stitched by {match}: {_MATCH_REASONS.get(match or '', '')}"})
    for group in groups:
        if group.confidence < 1.0:
            why = "; ".join(f"{d[0]}: {d[2]}" for d in group.diagnostics) or "no diagnostic recorded"
            reasons.append({"factor": group.confidence,
                            "reason": f"{group.recognizer or 'statement'} resolved at "
                                      f"{group.confidence:.2f} ({why})"})
    collectors = set(edge.evidence.get("collectors", []))
    if collectors == {"copy_history"} and not groups:
        reasons.append({"factor": 0.8, "reason": "the load is known only from COPY_HISTORY: no COPY "
                                                 "statement (or pipe definition) for it was read"})
    if edge.confidence < 1.0 and not reasons:
        reasons.append({"factor": edge.confidence,
                        "reason": "not recorded (the statements behind it are no longer in the store)"})
    return reasons


def edge_report(data: AuditData, edge: Edge, store: Any, decisions: dict[str, Decision],
                show_literals: bool = False) -> dict[str, Any]:
    """Everything ``explain`` says about one edge, as JSON."""
    groups = groups_for(store, edge)
    ev = edge.evidence
    fingerprints = list(ev.get("fingerprints", []))
    texts = statement_texts(store, fingerprints) if store is not None else {}
    sql: list[dict[str, Any]] = []
    for fingerprint in fingerprints:
        text = texts.get(fingerprint)
        if text is not None and len(sql) < MAX_SQL_PER_EDGE:
            sql.append({"fingerprint": fingerprint, "dialect": text.dialect,
                        "text": text.shown(show_literals), "redacted": not show_literals,
                        "location": text.location, "query_id": text.query_id})
    decision = decisions.get(edge.id)
    return {
        "id": edge.id,
        "key": edge.key,
        "kind": edge.kind,
        "source": edge.source,
        "target": edge.target,
        "source_name": data.display(edge.source),
        "target_name": data.display(edge.target),
        "status": edge.status,
        "first_run": edge.first_run,
        "last_observed": edge.last_observed,
        "stale_since": edge.stale_since,
        "confidence": edge.confidence,
        "match": edge.data.get("match"),
        "lowered_by": lowered_by(edge, groups),
        "recognizers": list(ev.get("recognizers", [])),
        "evidence": ev,
        "statements": [
            {"recognizer": g.recognizer, "confidence": g.confidence,
             "collectors": g.evidence.get("collectors", []),
             "query_ids": g.evidence.get("query_ids", []),
             "users": g.evidence.get("users", []),
             "first_seen": g.evidence.get("first_seen"), "last_seen": g.evidence.get("last_seen"),
             "run_count": g.evidence.get("run_count", 0),
             "locations": g.evidence.get("locations", [])[:5],
             "fingerprints": g.evidence.get("fingerprints", []),
             "diagnostics": [{"code": d[0], "severity": d[1], "message": d[2]} for d in g.diagnostics]}
            for g in groups
        ],
        "columns": edge.data.get("columns", []),
        "indirect": edge.data.get("indirect", []),
        "review": decision.to_json() if decision else None,
        "sql": sql,
        "sql_missing": [f for f in fingerprints if f not in texts][:10],
    }


def upstream_path(data: AuditData, dataset_id: str, column: str, max_hops: int = 10_000) -> list[Hop]:
    """Every hop above a column, depth first (so a printed list reads as a tree)."""
    hops: list[Hop] = []
    seen: set[tuple[str, str]] = {(dataset_id, column)}

    def walk(node: tuple[str, str], depth: int) -> None:
        for edge, mapping in data.column_sources(*node):
            for source in mapping["sources"]:
                key = (source["dataset"], source["field"])
                if len(hops) >= max_hops:
                    return
                hops.append(Hop(depth, node, key, edge.id, mapping.get("transform", "identity")))
                if key not in seen:
                    seen.add(key)
                    walk(key, depth + 1)

    walk((dataset_id, column), 1)
    return hops


def explain(data: AuditData, target: Target, store: Any, decisions: dict[str, Decision],
            show_literals: bool = False) -> Explanation:
    """The explanation of a dataset (every edge in or out), a column (its upstream path and
    next hops) or one edge."""
    result = Explanation(target)
    edges: list[Edge] = []
    if target.kind == "edge" and target.edge is not None:
        edges = [target.edge]
    elif target.kind == "dataset" and target.dataset is not None:
        edges = data.in_edges(target.dataset.id) + data.out_edges(target.dataset.id)
    elif target.dataset is not None and target.column is not None:
        result.upstream = upstream_path(data, target.dataset.id, target.column)
        for edge, mapping in data.column_targets(target.dataset.id, target.column):
            result.downstream.append(Hop(1, (edge.target, mapping["target"]),
                                         (target.dataset.id, target.column), edge.id,
                                         mapping.get("transform", "identity")))
        wanted = [h.edge for h in result.upstream] + [h.edge for h in result.downstream]
        edges = [data.edges[e] for e in dict.fromkeys(wanted)]
    result.edges = [edge_report(data, e, store, decisions, show_literals) for e in edges]
    return result


# --- text ----------------------------------------------------------------------------------


def render_text(data: AuditData, result: Explanation) -> str:
    t = result.target
    lines = [f"{t.kind} {t.label}"]
    if t.kind == "dataset" and t.dataset is not None:
        lines.append(f"  id       {t.dataset.id}  [{t.dataset.system}]")
        if t.dataset.fields:
            lines.append(f"  columns  {', '.join(t.dataset.fields)}")
    keys = {e["id"]: e["key"] for e in result.edges}
    if t.kind == "column":
        lines.append("")
        if result.upstream:
            lines.append("upstream path")
            lines.append(f"  {t.label}")
            for hop in result.upstream:
                lines.append(f"  {'  ' * hop.depth}← {_col(data, hop.source)}   "
                             f"[{data.edges[hop.edge].kind}, {hop.transform}, edge {keys[hop.edge]}]")
        else:
            lines.append("upstream path: none (no statement we read writes this column)")
        if result.downstream:
            lines.append("feeds (next hop; `s3lineage impact` for all)")
            for hop in result.downstream:
                lines.append(f"  → {_col(data, hop.target)}   "
                             f"[{data.edges[hop.edge].kind}, {hop.transform}, edge {keys[hop.edge]}]")
    if not result.edges:
        lines.append("no edges touch it")
    focus: dict[str, set[str]] = {}  # column mode: the mappings on the path, marked »
    for hop in (*result.upstream, *result.downstream):
        focus.setdefault(hop.edge, set()).add(hop.target[1])
    for edge in result.edges:
        lines.append("")
        lines.extend(_edge_lines(edge, focus.get(edge["id"], set())))
    return "\n".join(lines)


def _col(data: AuditData, column: tuple[str, str]) -> str:
    return f"{data.display(column[0])}.{column[1]}"


def _edge_lines(e: dict[str, Any], focus: set[str] | None = None) -> list[str]:
    ev = e["evidence"]
    out = [f"edge {e['key']}  {e['kind']}  {e['source_name']} → {e['target_name']}"]
    status = e["status"] + (f" since {e['stale_since']}" if e.get("stale_since") else "")
    if e.get("first_run") is not None:
        status += f" (first run {e['first_run']}, last observed {e['last_observed']})"
    out.append(f"  status      {status}")
    review = e.get("review")
    if review:
        flag = "  — EVIDENCE CHANGED since: re-review" if review["needs_review"] else ""
        by = f" by {review['decided_by']}" if review.get("decided_by") else ""
        out.append(f"  review      {review['status'].upper()} {review['decided_at']}{by}: "
                   f"{review['note'] or '(no note)'}{flag}")
    match = f", match {e['match']}" if e.get("match") else ""
    out.append(f"  confidence  {e['confidence']:.2f}{match}")
    for reason in e["lowered_by"]:
        out.append(f"    lowered ×{reason['factor']:.2f}: {reason['reason']}")
    out.append(f"  recognizer  {', '.join(e['recognizers']) or '(none: COPY_HISTORY)'}")
    out.append(f"  evidence    {ev.get('run_count', 0)} run(s), first {ev.get('first_seen')}, "
               f"last {ev.get('last_seen')}")
    out.append(f"    collectors {', '.join(ev.get('collectors', [])) or '-'};"
               f" users {', '.join(ev.get('users', [])) or '-'}")
    if ev.get("query_ids"):
        out.append(f"    query ids  {', '.join(ev['query_ids'][:10])}"
                   + (" …" if len(ev["query_ids"]) > 10 else ""))
    if ev.get("locations"):
        out.append(f"    locations  {', '.join(ev['locations'][:5])}"
                   + (" …" if len(ev["locations"]) > 5 else ""))
    if len(e["statements"]) > 1:
        out.append(f"  statements  {len(e['statements'])} distinct")
        for s in e["statements"]:
            out.append(f"    {s['recognizer'] or '-'}: {s['run_count']} run(s) {s['first_seen']} … "
                       f"{s['last_seen']}, users {', '.join(s['users']) or '-'}, "
                       f"query ids {', '.join(s['query_ids'][:3]) or '-'}")
    if e["columns"]:
        out.append("  columns")
        for m in e["columns"]:
            sources = ", ".join(s["field"] for s in m["sources"])
            mark = "  » " if focus and m["target"] in focus else "    "
            out.append(f"{mark}{m['target']} ← {sources}  [{m['transform']}]")
    if e["indirect"]:
        out.append("  indirect    " + ", ".join(i["field"] for i in e["indirect"])
                   + "  (filter/join/group keys)")
    for sql in e["sql"]:
        label = "literals redacted" if sql["redacted"] else "with literals"
        out.append(f"  SQL ({sql['dialect']}, fingerprint {sql['fingerprint']}, {label}; "
                   f"{sql['location'] or sql['query_id'] or ''})")
        out.extend("    " + line for line in sql["text"].strip().splitlines())
    if e["sql_missing"] and not e["sql"]:
        out.append("  SQL         not recorded for this run's statements (see locations above)")
    return out
