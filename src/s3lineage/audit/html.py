"""A self-contained static HTML report of the lineage graph.

One file, no network: the CSS and JavaScript (hand-written, ``audit/assets/``) and the
graph (the JSON contract, plus redacted SQL and edge statuses when rendered from the
state store) are inlined. The page draws a lane per system (PostgreSQL, S3, Snowflake)
with datasets placed left to right by depth, searches datasets and ``dataset.column``,
highlights upstream (blue) and downstream (orange), and shows an edge's evidence,
confidence and review status on click. Rejected edges are red and dashed.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any


def _asset(name: str) -> str:
    return resources.files("s3lineage.audit").joinpath("assets", name).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element (no '</script>', no HTML comment openers)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(doc: dict[str, Any], *, sql: dict[str, str] | None = None,
                status: dict[str, str] | None = None, title: str = "s3lineage report") -> str:
    """The report for a graph document (``to_json_data``, optionally with ``review`` fields).

    ``sql``: fingerprint → SQL text to show (already redacted); ``status``: edge id →
    ``active``/``stale``.
    """
    graph = dict(doc)
    graph["datasets"] = [{k: v for k, v in d.items() if k != "members"} for d in doc.get("datasets", [])]
    payload = {"graph": graph, "sql": sql or {}, "status": status or {}}
    summary = doc.get("summary") or {}
    generated = doc.get("generated_at") or ""
    meta = f"{len(graph['datasets'])} datasets · {len(doc.get('edges', []))} edges"
    if generated:
        meta += f" · generated {generated}"
    if summary.get("statements") is not None:
        meta += f" · {summary['statements']} statements read"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{html.escape(title)}</title>
<style>
{_asset("report.css")}
</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1><span class="meta">{html.escape(meta)}</span>
<span class="meta">{html.escape(str(doc.get("generator", "")))}</span></header>
<div id="toolbar">
  <input id="search" type="search" list="names" placeholder="dataset or dataset.column, e.g. appdb.public.users.email" autocomplete="off">
  <datalist id="names"></datalist>
  <select id="direction" title="what to highlight">
    <option value="both">upstream + downstream</option>
    <option value="upstream">upstream only</option>
    <option value="downstream">downstream only</option>
  </select>
  <button id="clear" type="button">clear</button>
  <button id="zoom-out" type="button" title="zoom out">&minus;</button><button id="zoom-fit" type="button" title="fit the width">fit</button><button id="zoom-in" type="button" title="zoom in">+</button>
  <div class="legend"><span class="l-up">upstream</span><span class="l-down">downstream</span>
  <span class="l-rejected">rejected</span><span class="l-accepted">accepted</span>
  <span class="l-stale">stale</span><span class="l-low">confidence &lt; 0.8</span></div>
</div>
<main id="canvas"></main>
<aside id="panel"></aside>
<script id="lineage-data" type="application/json">{_script_json(payload)}</script>
<script>
{_asset("report.js")}
</script>
</body>
</html>
"""
