"""A local stand-in for the part of Atlan's metadata API that pyatlan's publishing calls use.

Tests point a real :class:`pyatlan.client.atlan.AtlanClient` at it (``http://127.0.0.1:PORT``;
pyatlan rejects ``localhost``). It keeps assets in memory and implements:

- ``POST /api/meta/entity/bulk/``: upsert keyed by ``typeName`` + ``qualifiedName`` (create vs
  update, ``guidAssignments``, ``mutatedEntities``), restore with ``"status": "ACTIVE"``;
- ``POST /api/meta/search/indexsearch``: the DSL subset FluentSearch emits (bool
  filter/must/must_not/should, term/terms/prefix/exists, sort, from/size paging);
- ``GET entity/guid/{guid}``, ``GET entity/uniqueAttribute/type/{type}``;
- ``DELETE /api/meta/entity/bulk/?deleteType=SOFT|PURGE&guid=…``.

Like a tenant, it **rejects the whole bulk request** when an entity references (by
qualifiedName or guid) an asset that is not already stored, or with another type than the
stored one (404 ``REFERENCED_ENTITY_NOT_FOUND``-like body), or misses a required attribute
(400). Unknown DSL clauses are a 400 too, so a query the stand-in cannot honour is never
silently answered wrong. Faults (429 with Retry-After, 503, …) are injected with
:meth:`AtlanStandIn.fail_next`; per-asset rejections with :meth:`AtlanStandIn.reject`.
Every request is appended to :attr:`AtlanStandIn.requests`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

PROCESS_TYPES = {"Process", "ColumnProcess", "BIProcess", "LineageProcess"}
_SUFFIXES = (".keyword", ".text", ".stemmed", ".delimiter")
_SPECIAL = {"__typeName": "typeName", "__state": "status", "__guid": "guid"}


@dataclass(slots=True)
class Request:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0
    at: float = field(default_factory=time.monotonic)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return (self.method == "POST" and self.path.startswith("/api/meta/entity/bulk")) or (
            self.method == "DELETE"
        )


@dataclass(slots=True)
class _Fault:
    status: int
    times: int
    retry_after: str | None
    path_prefix: str
    method: str | None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class AtlanStandIn:
    """In-memory Atlan metadata API on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(self, api_key: str = "standin-api-key") -> None:
        self.api_key = api_key
        self.assets: dict[str, dict[str, Any]] = {}  # guid -> entity
        self._keys: dict[tuple[str, str], str] = {}  # (typeName, qualifiedName) -> guid
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._rejections: dict[str, tuple[int, str, str]] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> AtlanStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: without this, Nagle + delayed ACK
            # add ~40 ms to every request
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def do_DELETE(self) -> None:
                standin._handle(self, "DELETE")

            def do_PUT(self) -> None:
                standin._handle(self, "PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- test controls ---------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, *, retry_after: str | None = None,
                  path_prefix: str = "/api/meta/", method: str | None = None) -> None:
        """Answer the next ``times`` matching requests with ``status`` (and Retry-After)."""
        with self._lock:
            self._faults.append(_Fault(status, times, retry_after, path_prefix, method))

    def reject(self, qualified_name: str, status: int = 400, code: str = "ATLAS-400-00-029",
               message: str = "rejected by the stand-in") -> None:
        """Reject every bulk request that carries an entity with this qualifiedName."""
        with self._lock:
            self._rejections[qualified_name] = (status, code, message)

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.is_write]

    # --- seeding (as a native crawl would have created the assets) --------------------------

    def add_asset(self, type_name: str, attributes: dict[str, Any], status: str = "ACTIVE") -> str:
        """Store an asset directly (no validation), as a crawler would have created it."""
        with self._lock:
            guid = str(uuid.uuid4())
            self.assets[guid] = {"typeName": type_name, "guid": guid, "status": status,
                                 "attributes": dict(attributes)}
            self._keys[(type_name, attributes["qualifiedName"])] = guid
            return guid

    def seed_connection(self, name: str, connector: str, epoch: int) -> str:
        qn = f"default/{connector}/{epoch}"
        self.add_asset("Connection", {"qualifiedName": qn, "name": name, "connectorName": connector})
        return qn

    def seed_table(self, connection_qn: str, database: str, schema: str, table: str,
                   columns: Iterable[str], type_name: str = "Table") -> str:
        """A table (or View/MaterialisedView) with its database, schema and columns."""
        connector = connection_qn.split("/")[1]
        base = {"connectionQualifiedName": connection_qn, "connectorName": connector}
        db_qn = f"{connection_qn}/{database}"
        schema_qn = f"{db_qn}/{schema}"
        if self.find("Database", db_qn) is None:
            self.add_asset("Database", base | {"qualifiedName": db_qn, "name": database})
        if self.find("Schema", schema_qn) is None:
            self.add_asset("Schema", base | {"qualifiedName": schema_qn, "name": schema,
                                             "databaseName": database,
                                             "databaseQualifiedName": db_qn})
        table_qn = f"{schema_qn}/{table}"
        where = base | {"databaseName": database, "databaseQualifiedName": db_qn,
                        "schemaName": schema, "schemaQualifiedName": schema_qn}
        self.add_asset(type_name, where | {"qualifiedName": table_qn, "name": table})
        # pyatlan's Column.creator: views and materialised views use view*, the rest table*
        parent_key = "view" if type_name in ("View", "MaterialisedView") else "table"
        for order, column in enumerate(columns, start=1):
            self.add_asset("Column", where | {
                "qualifiedName": f"{table_qn}/{column}", "name": column, "order": order,
                f"{parent_key}Name": table, f"{parent_key}QualifiedName": table_qn})
        return table_qn

    def seed_crawl(self, name: str, connector: str, epoch: int,
                   tables: dict[tuple[str, str, str], Iterable[str]],
                   types: dict[tuple[str, str, str], str] | None = None) -> str:
        """A connection and its tables/columns, as a native crawler of ``connector`` makes them."""
        connection_qn = self.seed_connection(name, connector, epoch)
        for (database, schema, table), columns in sorted(tables.items()):
            self.seed_table(connection_qn, database, schema, table, columns,
                            (types or {}).get((database, schema, table), "Table"))
        return connection_qn

    # --- inspection --------------------------------------------------------------------------

    def find(self, type_name: str, qualified_name: str) -> dict[str, Any] | None:
        guid = self._keys.get((type_name, qualified_name))
        return self.assets.get(guid) if guid else None

    def of_type(self, type_name: str, status: str | None = "ACTIVE") -> list[dict[str, Any]]:
        return [a for a in self.assets.values()
                if a["typeName"] == type_name and (status is None or a["status"] == status)]

    def qualified_name_of(self, ref: dict[str, Any]) -> str:
        return self.assets[ref["guid"]]["attributes"]["qualifiedName"]

    # --- HTTP ---------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        request = Request(method, parts.path, parse_qs(parts.query), body,
                          headers={k.lower(): v for k, v in handler.headers.items()})
        with self._lock:
            self.requests.append(request)
            status, payload, headers = self._route(request, handler)
        request.status = status
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, request: Request, handler: BaseHTTPRequestHandler
               ) -> tuple[int, Any, dict[str, str]]:
        if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"errorCode": "ATLAN-401", "errorMessage": "unauthenticated"}, {}
        for fault in self._faults:
            if fault.times > 0 and request.path.startswith(fault.path_prefix) and (
                    fault.method in (None, request.method)):
                fault.times -= 1
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return fault.status, {"errorCode": f"STANDIN-{fault.status}",
                                      "errorMessage": "injected fault"}, headers
        path, q = request.path, request.query
        try:
            if request.method == "POST" and path.rstrip("/") == "/api/meta/entity/bulk":
                return 200, self._bulk(request.body or {}), {}
            if request.method == "POST" and path == "/api/meta/search/indexsearch":
                return 200, self._search(request.body or {}), {}
            if request.method == "DELETE" and path.rstrip("/") == "/api/meta/entity/bulk":
                return 200, self._delete(q.get("guid", []), q.get("deleteType", ["SOFT"])[0]), {}
            if request.method == "GET" and path.startswith("/api/meta/entity/guid/"):
                guid = unquote(path.rsplit("/", 1)[1])
                if guid not in self.assets:
                    raise ApiError(404, "ATLAS-404-00-005", f"Given instance guid {guid} is invalid/not found")
                return 200, {"entity": self._full(self.assets[guid])}, {}
            if request.method == "GET" and path.startswith("/api/meta/entity/uniqueAttribute/type/"):
                type_name = unquote(path.rsplit("/", 1)[1])
                qn = q.get("attr:qualifiedName", [""])[0]
                found = self.find(type_name, qn)
                if found is None:
                    raise ApiError(404, "ATLAS-404-00-009",
                                   f"Instance {type_name} with unique attribute {{qualifiedName={qn}}} does not exist")
                return 200, {"entity": self._full(found)}, {}
        except ApiError as err:
            return err.status, {"errorCode": err.code, "errorMessage": err.message}, {}
        return 404, {"errorCode": "STANDIN-404", "errorMessage": f"not implemented: {request.method} {path}"}, {}

    # --- bulk upsert ---------------------------------------------------------------------------

    def _bulk(self, body: dict[str, Any]) -> dict[str, Any]:
        entities = body.get("entities") or []
        for entity in entities:  # validate everything first: a rejected request changes nothing
            self._validate(entity)
        created: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        assignments: dict[str, str] = {}
        for entity in entities:
            attrs = entity["attributes"]
            key = (entity["typeName"], attrs["qualifiedName"])
            new_attrs = {k: self._resolve_value(v) for k, v in attrs.items()}
            for name, refs in (entity.get("appendRelationshipAttributes") or {}).items():
                new_attrs[name] = ("append", [self._resolve_ref(r) for r in _as_list(refs)])
            for name, refs in (entity.get("removeRelationshipAttributes") or {}).items():
                new_attrs[name] = ("remove", [self._resolve_ref(r) for r in _as_list(refs)])
            guid = self._keys.get(key)
            if guid is None:
                guid = str(uuid.uuid4())
                stored = {"typeName": entity["typeName"], "guid": guid, "status": "ACTIVE",
                          "attributes": {}}
                _merge(stored["attributes"], new_attrs)
                self.assets[guid] = stored
                self._keys[key] = guid
                created.append(self._header(stored))
            else:
                stored = self.assets[guid]
                before = json.dumps([stored["attributes"], stored["status"]], sort_keys=True, default=str)
                _merge(stored["attributes"], new_attrs)
                if entity.get("status") in ("ACTIVE", "DELETED"):
                    stored["status"] = entity["status"]
                after = json.dumps([stored["attributes"], stored["status"]], sort_keys=True, default=str)
                if before != after:
                    updated.append(self._header(stored))
            if entity.get("guid") and str(entity["guid"]).startswith("-"):
                assignments[entity["guid"]] = guid
        mutated: dict[str, Any] = {}
        if created:
            mutated["CREATE"] = created
        if updated:
            mutated["UPDATE"] = updated
        return {"mutatedEntities": mutated, "guidAssignments": assignments}

    def _validate(self, entity: dict[str, Any]) -> None:
        type_name = entity.get("typeName")
        attrs = entity.get("attributes") or {}
        qn = attrs.get("qualifiedName")
        if not type_name or not qn:
            raise ApiError(400, "ATLAS-400-00-01A", "invalid parameters: typeName and qualifiedName are required")
        if qn in self._rejections:
            raise ApiError(*self._rejections[qn])
        exists = (type_name, qn) in self._keys
        if not exists and not attrs.get("name"):
            raise ApiError(400, "ATLAS-400-00-01A", f"{type_name} {qn}: missing required attribute name")
        if type_name in PROCESS_TYPES:
            for rel in ("inputs", "outputs"):
                if rel in attrs and not attrs[rel] or (not exists and not attrs.get(rel)):
                    raise ApiError(400, "ATLAS-400-00-01A", f"{type_name} {qn}: {rel} must not be empty")
        if type_name == "ColumnProcess" and not exists and not attrs.get("process"):
            raise ApiError(400, "ATLAS-400-00-01A", f"ColumnProcess {qn}: missing required attribute process")
        if type_name == "ColumnProcess" and attrs.get("process"):
            parent = self._resolve_ref(attrs["process"])
            if self.assets[parent["guid"]]["typeName"] != "Process":
                raise ApiError(400, "ATLAS-400-00-01A", f"ColumnProcess {qn}: parent must be a Process")
        for value in list(attrs.values()) + [
                r for part in ("appendRelationshipAttributes", "removeRelationshipAttributes")
                for r in (entity.get(part) or {}).values()]:
            for ref in _refs(value):
                self._resolve_ref(ref)

    def _resolve_ref(self, ref: dict[str, Any]) -> dict[str, Any]:
        """A stored reference ``{typeName, guid}``; raises like Atlas when it does not resolve."""
        type_name = ref.get("typeName")
        guid = ref.get("guid")
        if guid and not str(guid).startswith("-"):
            stored = self.assets.get(guid)
            if stored is not None and stored["typeName"] == type_name:
                return {"typeName": type_name, "guid": guid}
        unique = (ref.get("uniqueAttributes") or {}).get("qualifiedName")
        if unique is not None:
            found = self._keys.get((type_name, unique))
            if found is not None:
                return {"typeName": type_name, "guid": found}
        raise ApiError(404, "ATLAS-404-00-00A",
                       f"Referenced entity AtlasObjectId{{guid={guid}, typeName={type_name}, "
                       f"uniqueAttributes={{qualifiedName={unique}}}}} is not found")

    def _resolve_value(self, value: Any) -> Any:
        if isinstance(value, dict) and "typeName" in value:
            return self._resolve_ref(value)
        if isinstance(value, list) and value and all(isinstance(v, dict) and "typeName" in v for v in value):
            return [self._resolve_ref(v) for v in value]
        return value

    # --- delete ----------------------------------------------------------------------------------

    def _delete(self, guids: list[str], delete_type: str) -> dict[str, Any]:
        for guid in guids:
            if guid not in self.assets:
                raise ApiError(404, "ATLAS-404-00-005", f"Given instance guid {guid} is invalid/not found")
        headers = []
        for guid in guids:
            stored = self.assets[guid]
            if delete_type == "SOFT":
                stored["status"] = "DELETED"
                headers.append(self._header(stored))
            else:
                headers.append(self._header(stored) | {"status": "PURGED"})
                del self._keys[(stored["typeName"], stored["attributes"]["qualifiedName"])]
                del self.assets[guid]
        return {"mutatedEntities": {"DELETE": headers}}

    # --- search ----------------------------------------------------------------------------------

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        dsl = body.get("dsl") or {}
        query = dsl.get("query") or {"match_all": {}}
        hits = [a for a in self.assets.values() if _matches(a, query)]
        for sort in reversed(dsl.get("sort") or []):
            (name, spec), = sort.items()
            reverse = (spec.get("order") if isinstance(spec, dict) else spec) == "desc"
            hits.sort(key=lambda a, n=name: str(_values(a, n)[0] if _values(a, n) else ""), reverse=reverse)
        start, size = int(dsl.get("from", 0)), int(dsl.get("size", 100))
        page = hits[start:start + size]
        wanted = set(body.get("attributes") or []) | set(body.get("relationAttributes") or [])
        entities = [self._projection(a, wanted) for a in page]
        result: dict[str, Any] = {"approximateCount": len(hits)}
        if entities:
            result["entities"] = entities
        return result

    def _projection(self, asset: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
        attrs = {k: v for k, v in asset["attributes"].items()
                 if k in wanted or k in ("qualifiedName", "name")}
        return {"typeName": asset["typeName"], "guid": asset["guid"], "status": asset["status"],
                "attributes": {k: self._render(v) for k, v in attrs.items()},
                "displayText": asset["attributes"].get("name")}

    def _full(self, asset: dict[str, Any]) -> dict[str, Any]:
        return {"typeName": asset["typeName"], "guid": asset["guid"], "status": asset["status"],
                "attributes": {k: self._render(v) for k, v in asset["attributes"].items()}}

    def _render(self, value: Any) -> Any:
        """Stored references come back as Atlas returns related assets."""
        if isinstance(value, dict) and "guid" in value and "typeName" in value:
            target = self.assets.get(value["guid"])
            if target is None:
                return None
            qn = target["attributes"]["qualifiedName"]
            return {"typeName": target["typeName"], "guid": target["guid"],
                    "uniqueAttributes": {"qualifiedName": qn},
                    "attributes": {"qualifiedName": qn, "name": target["attributes"].get("name")}}
        if isinstance(value, list):
            return [self._render(v) for v in value]
        return value

    def _header(self, asset: dict[str, Any]) -> dict[str, Any]:
        attrs = asset["attributes"]
        return {"typeName": asset["typeName"], "guid": asset["guid"], "status": asset["status"],
                "attributes": {"qualifiedName": attrs["qualifiedName"], "name": attrs.get("name")}}


# --- helpers ---------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _refs(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and "typeName" in value:
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict) and "typeName" in v]
    return []


def _merge(attributes: dict[str, Any], new: dict[str, Any]) -> None:
    for name, value in new.items():
        if isinstance(value, tuple) and value and value[0] in ("append", "remove"):
            current = [r for r in attributes.get(name) or [] if isinstance(r, dict)]
            guids = {r["guid"] for r in value[1]}
            if value[0] == "append":
                current += [r for r in value[1] if r["guid"] not in {c["guid"] for c in current}]
            else:
                current = [r for r in current if r["guid"] not in guids]
            attributes[name] = current
        else:
            attributes[name] = value


def _values(asset: dict[str, Any], field_name: str) -> list[Any]:
    """The values of an index field for an asset (``name.keyword`` → the ``name`` attribute)."""
    base = field_name
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    if base in _SPECIAL:
        value: Any = asset[_SPECIAL[base]]
    else:
        value = asset["attributes"].get(base)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [v["guid"] if isinstance(v, dict) and "guid" in v else v for v in values]


def _equal(actual: Any, expected: Any, case_insensitive: bool) -> bool:
    if isinstance(actual, str) and isinstance(expected, str) and case_insensitive:
        return actual.lower() == expected.lower()
    return actual == expected


def _unpack(spec: Any) -> tuple[Any, bool]:
    if isinstance(spec, dict):
        return spec.get("value"), bool(spec.get("case_insensitive"))
    return spec, False


def _matches(asset: dict[str, Any], query: dict[str, Any]) -> bool:
    (kind, spec), = query.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        if not all(_matches(asset, q) for q in _as_list(spec.get("filter", [])) + _as_list(spec.get("must", []))):
            return False
        if any(_matches(asset, q) for q in _as_list(spec.get("must_not", []))):
            return False
        should = _as_list(spec.get("should", []))
        if should:
            needed = int(spec.get("minimum_should_match", 1))
            return sum(_matches(asset, q) for q in should) >= needed
        return True
    if kind == "term":
        (name, value_spec), = spec.items()
        value, ci = _unpack(value_spec)
        return any(_equal(v, value, ci) for v in _values(asset, name))
    if kind == "terms":
        (name, options), = spec.items()
        return any(v in options for v in _values(asset, name))
    if kind == "prefix":
        (name, value_spec), = spec.items()
        value, ci = _unpack(value_spec)
        return any(isinstance(v, str) and (v.lower().startswith(value.lower()) if ci else v.startswith(value))
                   for v in _values(asset, name))
    if kind == "exists":
        return bool(_values(asset, spec["field"]))
    raise ApiError(400, "STANDIN-400-DSL", f"query clause not supported by the stand-in: {kind}")
