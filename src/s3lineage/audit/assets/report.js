/* s3lineage HTML report: lanes by system, search, upstream/downstream highlight, edge evidence.
   Hand-written, no dependencies, no network. Data: <script id="lineage-data" type="application/json">. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var SYSTEMS = ["postgres", "s3", "snowflake"];
  var LABELS = { postgres: "PostgreSQL", s3: "S3", snowflake: "Snowflake" };
  var NODE_W = 250, NODE_H = 30, GAP_Y = 10, COL_W = 330, BAND_PAD = 18, LEFT = 120, TOP = 10;

  var payload = JSON.parse(document.getElementById("lineage-data").textContent);
  var doc = payload.graph;
  var sql = payload.sql || {};
  var status = payload.status || {};
  var datasets = {}, edges = {}, outE = {}, inE = {};
  var colOut = {}, colIn = {};   // "dataset\u0000field" -> [{col, edge}]
  var nodeEls = {}, edgeEls = {};
  var state = { selectedEdge: null };

  function el(tag, attrs, children) {
    var svg = ["svg", "g", "rect", "text", "path", "title", "line", "defs"].indexOf(tag) >= 0;
    var node = svg ? document.createElementNS(SVGNS, tag) : document.createElement(tag);
    for (var key in (attrs || {})) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "onclick") node.addEventListener("click", attrs[key]);
      else node.setAttribute(key, attrs[key]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }
  function display(d) { return d.kind === "s3" ? d.id : (d.kind === "stage" ? "@" + d.name : d.name); }
  function sysOf(d) { return SYSTEMS.indexOf(d.system) >= 0 ? d.system : "other"; }
  function colKey(ds, f) { return ds + "\u0000" + f; }
  function reviewOf(e) { return e.review || null; }
  function edgeClasses(e) {
    var c = ["edge"], r = reviewOf(e);
    if (r && r.status === "rejected") c.push("rejected");
    else if (r && r.status === "accepted") c.push("accepted");
    if ((status[e.id] || "active") === "stale") c.push("stale");
    if (e.confidence < 0.8) c.push("low");
    return c;
  }

  // --- index ------------------------------------------------------------------------------
  doc.datasets.forEach(function (d) { datasets[d.id] = d; outE[d.id] = []; inE[d.id] = []; });
  doc.edges.forEach(function (e) {
    [e.source, e.target].forEach(function (id) {
      if (!datasets[id]) { datasets[id] = { id: id, name: id, kind: "table", system: "other", fields: [] }; outE[id] = []; inE[id] = []; }
    });
    edges[e.id] = e; outE[e.source].push(e); inE[e.target].push(e);
    (e.columns || []).forEach(function (m) {
      var t = colKey(e.target, m.target);
      m.sources.forEach(function (s) {
        var k = colKey(s.dataset, s.field);
        (colOut[k] = colOut[k] || []).push({ col: t, edge: e.id });
        (colIn[t] = colIn[t] || []).push({ col: k, edge: e.id });
      });
    });
  });

  // --- layout: horizontal lanes per system, columns by depth --------------------------------
  function depths() {
    var depth = {}, indeg = {}, queue = [], ids = Object.keys(datasets);
    ids.forEach(function (id) { indeg[id] = inE[id].length; depth[id] = 0; if (!indeg[id]) queue.push(id); });
    var seen = 0;
    while (queue.length) {
      var id = queue.shift(); seen++;
      outE[id].forEach(function (e) {
        depth[e.target] = Math.max(depth[e.target], depth[id] + 1);
        if (--indeg[e.target] === 0) queue.push(e.target);
      });
    }
    if (seen < ids.length) {  // cycles: place the rest after their placed predecessors
      ids.forEach(function (id) { if (indeg[id] > 0) {
        inE[id].forEach(function (e) { if (indeg[e.source] <= 0) depth[id] = Math.max(depth[id], depth[e.source] + 1); });
      } });
    }
    return depth;
  }

  function layout() {
    var depth = depths(), lanes = {}, maxDepth = 0;
    Object.keys(datasets).forEach(function (id) {
      var s = sysOf(datasets[id]), d = depth[id];
      maxDepth = Math.max(maxDepth, d);
      ((lanes[s] = lanes[s] || {})[d] = lanes[s][d] || []).push(id);
    });
    var order = SYSTEMS.concat(["other"]).filter(function (s) { return lanes[s]; });
    var pos = {}, y = TOP, bands = [];
    var rank = {};  // for barycentric ordering
    for (var d = 0; d <= maxDepth; d++) {
      order.forEach(function (s) {
        var cell = (lanes[s] || {})[d];
        if (!cell) return;
        cell.forEach(function (id) {
          var ps = inE[id].map(function (e) { return rank[e.source]; }).filter(function (v) { return v !== undefined; });
          datasets[id]._bary = ps.length ? ps.reduce(function (a, b) { return a + b; }, 0) / ps.length : 1e9;
        });
        cell.sort(function (a, b) {
          return (datasets[a]._bary - datasets[b]._bary) || display(datasets[a]).localeCompare(display(datasets[b]));
        });
        cell.forEach(function (id, i) { rank[id] = i; });
      });
    }
    order.forEach(function (s) {
      var rows = 0;
      Object.keys(lanes[s]).forEach(function (d) { rows = Math.max(rows, lanes[s][d].length); });
      var height = rows * (NODE_H + GAP_Y) - GAP_Y + 2 * BAND_PAD;
      Object.keys(lanes[s]).forEach(function (d) {
        lanes[s][d].forEach(function (id, i) {
          pos[id] = { x: LEFT + Number(d) * COL_W, y: y + BAND_PAD + i * (NODE_H + GAP_Y) };
        });
      });
      bands.push({ system: s, y: y, h: height });
      y += height + 12;
    });
    return { pos: pos, bands: bands, width: LEFT + (maxDepth + 1) * COL_W, height: y };
  }

  function draw() {
    var L = layout();
    var svg = el("svg", { id: "graph", width: L.width, height: L.height, viewBox: "0 0 " + L.width + " " + L.height });
    L.bands.forEach(function (b) {
      var fill = { postgres: "#f3f8fd", s3: "#fffaf0", snowflake: "#f2fbfd", other: "#f7f7f7" }[b.system];
      svg.appendChild(el("g", { "class": "band" }, [
        el("rect", { x: 0, y: b.y, width: L.width, height: b.h, fill: fill }),
        el("text", { x: 10, y: b.y + 16, text: LABELS[b.system] || "other" })
      ]));
    });
    var edgeLayer = el("g", { id: "edges" }), nodeLayer = el("g", { id: "nodes" });
    svg.appendChild(edgeLayer); svg.appendChild(nodeLayer);
    doc.edges.forEach(function (e) {
      var a = L.pos[e.source], b = L.pos[e.target];
      var x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
      var dx = Math.max(60, Math.abs(x2 - x1) / 2);
      var d = "M" + x1 + "," + y1 + " C" + (x1 + dx) + "," + y1 + " " + (x2 - dx) + "," + y2 + " " + x2 + "," + y2;
      var children = [el("path", { "class": "hit", d: d }), el("path", { "class": "line", d: d, "marker-end": "url(#arrow)" }),
                      el("title", { text: e.kind + ": " + display(datasets[e.source]) + " \u2192 " + display(datasets[e.target]) +
                                          " (confidence " + e.confidence.toFixed(2) + ")" })];
      var r = reviewOf(e);
      if (r && r.status === "rejected") {
        children.push(el("text", { "class": "tag", x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 8, "text-anchor": "middle", text: "REJECTED" }));
      }
      var g = el("g", { "class": edgeClasses(e).join(" "), "data-id": e.id, onclick: function (ev) { ev.stopPropagation(); selectEdge(e.id); } }, children);
      edgeEls[e.id] = g; edgeLayer.appendChild(g);
    });
    Object.keys(L.pos).forEach(function (id) {
      var p = L.pos[id], d = datasets[id], name = display(d);
      var label = d.kind === "s3" ? d.name : name;  // the bucket is in the tooltip and the panel
      var shown = label.length > 36 ? "\u2026" + label.slice(label.length - 35) : label;
      var g = el("g", { "class": "node " + sysOf(d), "data-id": id, transform: "translate(" + p.x + "," + p.y + ")",
                        onclick: function (ev) { ev.stopPropagation(); selectDataset(id); } }, [
        el("rect", { width: NODE_W, height: NODE_H }),
        el("text", { x: 8, y: NODE_H / 2, text: shown }),
        el("title", { text: name + (d.fields && d.fields.length ? "\n" + d.fields.join(", ") : "") })
      ]);
      nodeEls[id] = g; nodeLayer.appendChild(g);
    });
    var defs = el("defs");
    defs.innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#777"></path></marker>';
    svg.insertBefore(defs, svg.firstChild);
    var canvas = document.getElementById("canvas");
    canvas.appendChild(svg);
    state.svg = svg; state.size = [L.width, L.height];
    var fit = Math.min(1, (canvas.clientWidth - 8) / L.width);
    zoom(fit >= 0.55 ? fit : 1);
    svg.addEventListener("click", function () { clearHighlight(); showSummary(); });
  }

  function zoom(z) {
    state.zoom = Math.max(0.2, Math.min(2.5, z));
    state.svg.setAttribute("width", Math.round(state.size[0] * state.zoom));
    state.svg.setAttribute("height", Math.round(state.size[1] * state.zoom));
  }

  // --- highlight --------------------------------------------------------------------------------
  function clearHighlight() {
    Object.keys(nodeEls).forEach(function (id) { nodeEls[id].classList.remove("seed", "up", "down", "dim"); });
    Object.keys(edgeEls).forEach(function (id) { edgeEls[id].classList.remove("up", "down", "dim", "selected"); });
    state.selectedEdge = null;
  }
  function walkDatasets(start, forward) {
    var seen = {}, viaEdges = {}, queue = [start]; seen[start] = true;
    while (queue.length) {
      var id = queue.shift();
      (forward ? outE[id] : inE[id]).forEach(function (e) {
        if (e.review && e.review.status === "rejected") return;
        var next = forward ? e.target : e.source;
        viaEdges[e.id] = true;
        if (!seen[next]) { seen[next] = true; queue.push(next); }
      });
    }
    delete seen[start];
    return { nodes: seen, edges: viaEdges };
  }
  function walkColumns(start, forward) {
    var seen = {}, via = {}, parent = {}, queue = [start]; seen[start] = true;
    while (queue.length) {
      var k = queue.shift();
      ((forward ? colOut : colIn)[k] || []).forEach(function (step) {
        var e = edges[step.edge];
        if (e.review && e.review.status === "rejected") return;
        via[step.edge] = true;
        if (!seen[step.col]) { seen[step.col] = true; parent[step.col] = k; queue.push(step.col); }
      });
    }
    delete seen[start];
    return { cols: seen, edges: via, parent: parent };
  }
  function direction() { return document.getElementById("direction").value; }
  function apply(seedIds, up, down) {
    clearHighlight();
    Object.keys(nodeEls).forEach(function (id) {
      if (seedIds[id]) nodeEls[id].classList.add("seed");
      else if (up.nodes[id]) nodeEls[id].classList.add("up");
      else if (down.nodes[id]) nodeEls[id].classList.add("down");
      else nodeEls[id].classList.add("dim");
    });
    Object.keys(edgeEls).forEach(function (id) {
      if (up.edges[id]) edgeEls[id].classList.add("up");
      else if (down.edges[id]) edgeEls[id].classList.add("down");
      else edgeEls[id].classList.add("dim");
    });
    var first = Object.keys(seedIds)[0];
    if (first && nodeEls[first].scrollIntoView) nodeEls[first].scrollIntoView({ block: "center", inline: "center" });
  }
  var EMPTY = { nodes: {}, edges: {}, cols: {} };

  function selectDataset(id) {
    var dir = direction();
    var up = dir !== "downstream" ? walkDatasets(id, false) : EMPTY;
    var down = dir !== "upstream" ? walkDatasets(id, true) : EMPTY;
    var seeds = {}; seeds[id] = true;
    apply(seeds, up, down);
    var d = datasets[id];
    var panel = resetPanel(display(d));
    panel.appendChild(table([["id", d.id], ["system", d.system], ["kind", d.kind],
                             ["upstream", Object.keys(up.nodes).length + " dataset(s)"],
                             ["downstream", Object.keys(down.nodes).length + " dataset(s)"]]));
    if (d.fields && d.fields.length) {
      panel.appendChild(el("h3", { text: "columns (click one to trace it)" }));
      panel.appendChild(el("ul", {}, d.fields.map(function (f) {
        return el("li", {}, [el("a", { text: f, onclick: function () { selectColumn(id, f); } })]);
      })));
    }
    listDatasets(panel, "upstream", up.nodes); listDatasets(panel, "downstream", down.nodes);
    listEdges(panel, inE[id].concat(outE[id]));
    document.body.setAttribute("data-selected", id);
  }

  function selectColumn(id, field) {
    var dir = direction(), key = colKey(id, field);
    var up = dir !== "downstream" ? walkColumns(key, false) : { cols: {}, edges: {}, parent: {} };
    var down = dir !== "upstream" ? walkColumns(key, true) : { cols: {}, edges: {}, parent: {} };
    function owners(cols) {
      var n = {}; Object.keys(cols).forEach(function (k) { n[k.split("\u0000")[0]] = true; }); return n;
    }
    var seeds = {}; seeds[id] = true;
    apply(seeds, { nodes: owners(up.cols), edges: up.edges }, { nodes: owners(down.cols), edges: down.edges });
    var panel = resetPanel(display(datasets[id]) + "." + field);
    [["upstream columns", up, " \u2190 "], ["downstream columns", down, " \u2192 "]].forEach(function (part) {
      var cols = Object.keys(part[1].cols);
      panel.appendChild(el("h3", { text: part[0] + " (" + cols.length + ")" }));
      if (!cols.length) { panel.appendChild(el("div", { "class": "hint", text: "none" })); return; }
      panel.appendChild(el("ul", {}, cols.map(function (k) {
        var chain = [], cur = k;
        while (cur && cur !== key) { chain.unshift(cur); cur = part[1].parent[cur]; }
        var text = [key].concat(chain).map(function (c) {
          var bits = c.split("\u0000"); return display(datasets[bits[0]]) + "." + bits[1];
        }).join(part[2]);
        return el("li", { "class": "colpath", text: text });
      })));
    });
    document.body.setAttribute("data-selected", key.replace("\u0000", "#"));
  }

  function selectEdge(id) {
    var e = edges[id];
    clearHighlight();
    Object.keys(edgeEls).forEach(function (k) { if (k !== id) edgeEls[k].classList.add("dim"); });
    Object.keys(nodeEls).forEach(function (k) { if (k !== e.source && k !== e.target) nodeEls[k].classList.add("dim"); });
    edgeEls[id].classList.add("selected");
    state.selectedEdge = id;
    var panel = resetPanel(e.kind + ": " + display(datasets[e.source]) + " \u2192 " + display(datasets[e.target]));
    var r = reviewOf(e), ev = e.evidence || {};
    var badges = el("div", {}, [
      el("span", { "class": "badge " + (status[id] || "active"), text: status[id] || "active" }), " ",
      r ? el("span", { "class": "badge " + r.status, text: r.status }) : el("span", { "class": "hint", text: "not reviewed" }), " ",
      r && r.needs_review ? el("span", { "class": "badge rereview", text: "evidence changed: re-review" }) : null
    ]);
    panel.appendChild(badges);
    if (r) panel.appendChild(table([["decided", r.decided_at + (r.decided_by ? " by " + r.decided_by : "")], ["note", r.note || "(none)"]]));
    panel.appendChild(el("h3", { text: "confidence" }));
    panel.appendChild(table([["confidence", e.confidence.toFixed(2)], ["match", e.match || "-"],
                             ["recognizers", (ev.recognizers || []).join(", ") || "(COPY_HISTORY only)"]]));
    panel.appendChild(el("h3", { text: "evidence" }));
    panel.appendChild(table([["runs", String(ev.run_count || 0)], ["first seen", ev.first_seen || "-"], ["last seen", ev.last_seen || "-"],
                             ["collectors", (ev.collectors || []).join(", ")], ["users", (ev.users || []).join(", ") || "-"],
                             ["query ids", (ev.query_ids || []).join(", ") || "-"], ["locations", (ev.locations || []).join(", ") || "-"]]));
    if ((e.columns || []).length) {
      panel.appendChild(el("h3", { text: "columns" }));
      panel.appendChild(table(e.columns.map(function (m) {
        return [m.target, m.sources.map(function (s) { return s.field; }).join(", ") + "  [" + m.transform + "]"];
      })));
    }
    if ((e.indirect || []).length) {
      panel.appendChild(el("h3", { text: "indirect (filter / join / group keys)" }));
      panel.appendChild(el("div", { text: e.indirect.map(function (i) { return i.field; }).join(", ") }));
    }
    (ev.fingerprints || []).forEach(function (fp) {
      if (!sql[fp]) return;
      panel.appendChild(el("h3", { text: "SQL (literals redacted)" }));
      panel.appendChild(el("pre", { "class": "sql", text: sql[fp] }));
    });
    document.body.setAttribute("data-selected", id);
  }

  // --- panel ------------------------------------------------------------------------------------
  function resetPanel(title) {
    var panel = document.getElementById("panel");
    while (panel.firstChild) panel.removeChild(panel.firstChild);
    panel.appendChild(el("h2", { text: title }));
    return panel;
  }
  function table(rows) {
    return el("table", {}, rows.map(function (r) { return el("tr", {}, [el("td", { "class": "k", text: r[0] }), el("td", { text: r[1] })]); }));
  }
  function listDatasets(panel, label, nodes) {
    var ids = Object.keys(nodes);
    if (!ids.length) return;
    panel.appendChild(el("h3", { text: label }));
    panel.appendChild(el("ul", {}, ids.map(function (id) {
      return el("li", {}, [el("a", { text: display(datasets[id]), onclick: function () { selectDataset(id); } })]);
    })));
  }
  function listEdges(panel, list) {
    if (!list.length) return;
    panel.appendChild(el("h3", { text: "edges (click for evidence)" }));
    panel.appendChild(el("ul", {}, list.map(function (e) {
      var r = reviewOf(e);
      return el("li", {}, [el("a", { text: e.kind + ": " + display(datasets[e.source]) + " \u2192 " + display(datasets[e.target]),
                                     onclick: function () { selectEdge(e.id); } }),
                           r ? el("span", { "class": "badge " + r.status, text: r.status }) : null]);
    })));
  }
  function showSummary() {
    var panel = resetPanel("Lineage report");
    var rejected = doc.edges.filter(function (e) { return e.review && e.review.status === "rejected"; }).length;
    var low = doc.edges.filter(function (e) { return e.confidence < 0.8; }).length;
    panel.appendChild(table([["datasets", String(doc.datasets.length)], ["edges", String(doc.edges.length)],
                             ["rejected", String(rejected)], ["confidence < 0.8", String(low)]]));
    panel.appendChild(el("p", { "class": "hint", text: "Search a dataset or dataset.column, or click a box to highlight what feeds it (blue) and what it feeds (orange). Click an edge to read its evidence, confidence and review status." }));
    document.body.removeAttribute("data-selected");
  }

  // --- search -----------------------------------------------------------------------------------
  function search(query) {
    var q = (query || "").trim();
    if (!q) { clearHighlight(); showSummary(); return "none"; }
    var lower = q.toLowerCase(), ids = Object.keys(datasets);
    var exact = ids.filter(function (id) { var d = datasets[id]; return id.toLowerCase() === lower || display(d).toLowerCase() === lower; });
    if (exact.length === 1) { selectDataset(exact[0]); return "dataset"; }
    var cut = q.lastIndexOf(".");
    if (cut > 0) {
      var dsPart = q.slice(0, cut).toLowerCase(), field = q.slice(cut + 1).toLowerCase();
      for (var i = 0; i < ids.length; i++) {
        var d = datasets[ids[i]], name = display(d).toLowerCase();
        if (name === dsPart || ids[i].toLowerCase() === dsPart || name.endsWith("." + dsPart) || name.endsWith("/" + dsPart)) {
          var fields = (d.fields || []).concat(Object.keys(colIn).concat(Object.keys(colOut)).filter(function (k) {
            return k.split("\u0000")[0] === d.id; }).map(function (k) { return k.split("\u0000")[1]; }));
          var hit = fields.filter(function (f) { return f.toLowerCase() === field; })[0];
          if (hit) { selectColumn(d.id, hit); return "column"; }
        }
      }
    }
    var partial = ids.filter(function (id) { return id.toLowerCase().indexOf(lower) >= 0; });
    if (partial.length === 1) { selectDataset(partial[0]); return "dataset"; }
    var panel = resetPanel(partial.length ? partial.length + " datasets match \u201c" + q + "\u201d" : "nothing matches \u201c" + q + "\u201d");
    listDatasets(panel, "matches", partial.reduce(function (acc, id) { acc[id] = true; return acc; }, {}));
    return partial.length ? "many" : "none";
  }

  function init() {
    draw();
    var list = document.getElementById("names");
    var names = [];
    Object.keys(datasets).forEach(function (id) {
      var d = datasets[id]; names.push(display(d));
      (d.fields || []).forEach(function (f) { names.push(display(d) + "." + f); });
    });
    names.slice(0, 5000).forEach(function (n) { list.appendChild(el("option", { value: n })); });
    var input = document.getElementById("search");
    input.addEventListener("keydown", function (ev) { if (ev.key === "Enter") search(input.value); });
    input.addEventListener("change", function () { search(input.value); });
    document.getElementById("direction").addEventListener("change", function () { search(input.value); });
    document.getElementById("clear").addEventListener("click", function () { input.value = ""; search(""); });
    document.getElementById("zoom-in").addEventListener("click", function () { zoom(state.zoom * 1.25); });
    document.getElementById("zoom-out").addEventListener("click", function () { zoom(state.zoom / 1.25); });
    document.getElementById("zoom-fit").addEventListener("click", function () {
      zoom((document.getElementById("canvas").clientWidth - 8) / state.size[0]);
    });
    showSummary();
    window.s3lineageReport = { search: search, selectEdge: selectEdge, selectDataset: selectDataset, selectColumn: selectColumn };
    document.body.setAttribute("data-ready", "1");
  }
  init();
})();
