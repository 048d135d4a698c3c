"""Every sqlglot call s3lineage makes lives here, so a sqlglot upgrade touches one file.

sqlglot's AST shifts between minor releases (``lineage()``'s signature, how COPY
parameters are shaped, which statements fall back to ``exp.Command``); the rest of the
resolver talks to the small functions below and to the node classes re-exported as
``exp``. Pinned range: see pyproject.toml.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope
from sqlglot.schema import MappingSchema
from sqlglot.tokens import Token, TokenType

from s3lineage.model import Dialect

__all__ = ["ParsedStatement", "Scope", "exp", "parse_statement", "split_statements"]

# sqlglot logs "contains unsupported syntax" warnings for every Command fallback;
# we report those ourselves as diagnostics, so keep them out of the user's log.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_LITERAL_TOKENS = {
    TokenType.STRING,
    TokenType.NUMBER,
    TokenType.NATIONAL_STRING,
    TokenType.RAW_STRING,
    TokenType.HEREDOC_STRING,
    TokenType.BYTE_STRING,
    TokenType.BIT_STRING,
    TokenType.HEX_STRING,
    TokenType.UNICODE_STRING,
}
_STRING_TOKENS = _LITERAL_TOKENS - {TokenType.NUMBER}


@dataclass(frozen=True, slots=True)
class ParsedStatement:
    """One statement of a script: its text and AST, or the parse error."""

    text: str
    tree: exp.Expr | None
    error: str | None = None


def _dialect(dialect: Dialect) -> str:
    return dialect.value


def tokenize(sql: str, dialect: Dialect) -> list[Token]:
    return sqlglot.Dialect.get_or_raise(_dialect(dialect)).tokenize(sql)


def split_statements(sql: str, dialect: Dialect) -> list[str]:
    """Split a script at top-level semicolons (strings and dollar quotes respected).

    Parsing pieces one by one means one bad statement does not hide the others.
    """
    try:
        tokens = tokenize(sql, dialect)
    except (TokenError, ValueError):
        return [sql.strip()] if sql.strip() else []
    pieces: list[str] = []
    start = 0
    has_tokens = False  # a piece of only comments/whitespace is no statement
    for token in tokens:
        if token.token_type is TokenType.SEMICOLON:
            piece = sql[start : token.start].strip()
            if piece and has_tokens:
                pieces.append(piece)
            start = token.end + 1
            has_tokens = False
        else:
            has_tokens = True
    tail = sql[start:].strip()
    if tail and has_tokens:
        pieces.append(tail)
    return pieces


PROGRAM_PREFIX = "s3lineage-program:"


def _rewrite_for_parser(sql: str, dialect: Dialect) -> str:
    """Work around sqlglot 30.22 gaps in Postgres syntax, token-aware (comments and
    string contents are never touched):

    - ``COPY … TO|FROM PROGRAM 'cmd' [WITH] (…)`` mis-parses: the command becomes the
      literal ``'s3lineage-program:cmd'`` (see :data:`PROGRAM_PREFIX`), which parses as a file;
    - ``TO STDOUT (…)`` / ``FROM STDIN (…)`` without WITH fails: WITH is added;
    - ``CREATE MATERIALIZED VIEW … WITH [NO] DATA`` fails: the clause is dropped;
    - ``CREATE TABLE t AS TABLE src`` fails: it becomes ``AS SELECT * FROM src``.
    """
    if dialect is not Dialect.POSTGRES:
        return sql
    upper = sql.upper()
    if "COPY" not in upper and "CREATE" not in upper:
        return sql
    try:
        tokens = tokenize(sql, dialect)
    except (TokenError, ValueError):
        return sql
    if not tokens or tokens[0].token_type not in (TokenType.COPY, TokenType.CREATE):
        return sql  # (comments before the statement are not tokens)
    head = tokens[0].text.upper()
    edits: list[tuple[int, int, str]] = []  # (start, end exclusive, replacement)
    depth = 0
    for i, token in enumerate(tokens):
        kind = token.token_type
        if kind is TokenType.L_PAREN:
            depth += 1
        elif kind is TokenType.R_PAREN:
            depth -= 1
        text = token.text.upper()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if depth == 0 and text == "PROGRAM" and i > 0 and tokens[i - 1].text.upper() in ("TO", "FROM") \
                and nxt is not None and nxt.token_type in _STRING_TOKENS:
            # rebuilt from the token's (unescaped) content: '…', E'…' and $tag$…$tag$ alike
            command = nxt.text.replace("'", "''")
            edits.append((token.start, nxt.end + 1, f"'{PROGRAM_PREFIX}{command}'"))
        elif head == "COPY" and kind is TokenType.TABLE and i > 0 \
                and tokens[i - 1].token_type is TokenType.L_PAREN and depth == 1:
            edits.append((token.start, token.end + 1, "SELECT * FROM"))  # COPY (TABLE t) TO …
        elif head == "CREATE" and text == "ON" and nxt is not None and nxt.text.upper() == "COMMIT" \
                and i + 2 < len(tokens):
            last = tokens[i + 2]  # ON COMMIT DROP | DELETE ROWS | PRESERVE ROWS
            if last.text.upper() in ("DELETE", "PRESERVE") and i + 3 < len(tokens):
                last = tokens[i + 3]
            edits.append((token.start, last.end + 1, ""))
        elif depth == 0 and text in ("STDOUT", "STDIN") and nxt is not None \
                and nxt.token_type is TokenType.L_PAREN:
            edits.append((token.end + 1, token.end + 1, " WITH"))
        elif depth == 0 and kind is TokenType.WITH and nxt is not None and nxt.text.upper() in ("DATA", "NO") \
                and head == "CREATE":
            end = nxt.end + 1
            if nxt.text.upper() == "NO" and i + 2 < len(tokens):
                end = tokens[i + 2].end + 1
            edits.append((token.start, end, ""))
        elif depth == 0 and kind is TokenType.ALIAS and nxt is not None and nxt.token_type is TokenType.TABLE \
                and head == "CREATE" and i + 2 < len(tokens):
            edits.append((nxt.start, nxt.end + 1, "SELECT * FROM"))
    for start, end, replacement in reversed(edits):
        sql = sql[:start] + replacement + sql[end:]
    return sql


def _without_copy_options(sql: str, dialect: Dialect) -> str | None:
    """A Postgres COPY cut after its target (legacy options like ``CSV FORCE QUOTE *``
    defeat the parser and carry no lineage), or None when it is not such a COPY."""
    try:
        tokens = tokenize(sql, dialect)
    except (TokenError, ValueError):
        return None
    if not tokens or tokens[0].token_type is not TokenType.COPY:
        return None
    depth = 0
    for i, token in enumerate(tokens[:-1]):
        if token.token_type is TokenType.L_PAREN:
            depth += 1
        elif token.token_type is TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and token.text.upper() in ("TO", "FROM"):
            target = tokens[i + 1]
            if target.text.upper() == "PROGRAM" and i + 2 < len(tokens):
                target = tokens[i + 2]
            return sql[: target.end + 1]
    return None


def copy_position(sql: str, dialect: Dialect) -> int | None:
    """Where the ``COPY`` of ``… AS COPY INTO …`` (CREATE PIPE) starts, by tokens."""
    try:
        tokens = tokenize(sql, dialect)
    except (TokenError, ValueError):
        return None
    for first, second in zip(tokens, tokens[1:]):
        if first.token_type is TokenType.ALIAS and second.token_type is TokenType.COPY:
            return second.start
    return None


def parse_statement(sql: str, dialect: Dialect) -> ParsedStatement:
    """Parse exactly one statement; never raises."""
    try:
        trees = sqlglot.parse(_rewrite_for_parser(sql, dialect), read=_dialect(dialect))
    except (ParseError, TokenError) as err:
        shorter = _without_copy_options(sql, dialect) if dialect is Dialect.POSTGRES else None
        if shorter and shorter != sql:
            retried = parse_statement(shorter, dialect)
            if retried.tree is not None:
                return ParsedStatement(sql, retried.tree)
        return ParsedStatement(sql, None, _first_line(str(err)))
    except (ValueError, RecursionError, KeyError, AttributeError, TypeError) as err:
        # sqlglot occasionally fails inside a dialect hook on odd input
        return ParsedStatement(sql, None, f"{type(err).__name__}: {_first_line(str(err))}")
    trees = [t for t in trees if t is not None]
    if not trees:
        return ParsedStatement(sql, None, "empty statement")
    return ParsedStatement(sql, _resolve_identifier_calls(trees[0], dialect))


DYNAMIC_NAME = "s3lineage_dynamic_name"


def _resolve_identifier_calls(tree: exp.Expr, dialect: Dialect) -> exp.Expr:
    """Snowflake ``IDENTIFIER('db.sch.t')`` names a table as a string: make it a table.
    ``IDENTIFIER($var)`` names one only known at run time: it becomes the placeholder
    :data:`DYNAMIC_NAME`, which the resolver drops (with a diagnostic)."""
    for table in list(tree.find_all(exp.Table)):
        dynamic = table.this
        if not isinstance(dynamic, exp.DynamicIdentifier):
            continue
        named = None
        if isinstance(dynamic.this, exp.Literal) and dynamic.this.is_string:
            try:
                named = exp.to_table(dynamic.this.this, dialect=_dialect(dialect))
            except (ParseError, TokenError, ValueError):
                named = None
        if named is None:
            named = exp.to_table(DYNAMIC_NAME)
        for key in ("this", "db", "catalog"):
            table.set(key, named.args.get(key))
    return tree


def parse_expression(sql: str, dialect: Dialect) -> exp.Expr | None:
    parsed = parse_statement(sql, dialect)
    return parsed.tree


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "parse error"


# --- fingerprints -------------------------------------------------------------------


def normalized_forms(sql: str, dialect: Dialect) -> tuple[str, str]:
    """(fingerprint, cache key) of a statement.

    - The *fingerprint* folds every literal, comment, whitespace and keyword case: it
      names the statement's shape, so ``… WHERE id > 5`` and ``… id > 7`` group together.
    - The *cache key* folds only comments, whitespace and keyword case: literals stay,
      because they can carry the lineage (inner SQL, bucket, key, a stage path such as
      ``@stg/2025/01/``, ``$2`` positions), so only truly repeated statements share it.
    """
    try:
        tokens = tokenize(sql, dialect)
    except (TokenError, ValueError):
        folded = " ".join(sql.split())
        digest = _digest(folded)
        return digest, digest
    while tokens and tokens[-1].token_type is TokenType.SEMICOLON:
        tokens = tokens[:-1]  # "…;" as psql sends it and "…" as pg_stat_statements keeps it
    shape: list[str] = []
    keyed: list[str] = []
    previous = None
    previous_end = -2
    for token in tokens:
        if token.token_type is TokenType.NUMBER and previous is TokenType.PARAMETER \
                and shape and shape[-1] == "$" and token.start == previous_end + 1:
            shape[-1] = "?"  # $1 (a bound parameter) is a literal in the statement's shape
            keyed.append(token.text)
        elif token.token_type in _LITERAL_TOKENS:
            shape.append("?")
            keyed.append(f"{token.token_type.name}:{token.text}")
        elif token.token_type is TokenType.IDENTIFIER:  # quoted: exact
            keyed.append(f'"{token.text}"')
            shape.append(f'"{token.text}"')
        elif (token.token_type is TokenType.VAR and previous is TokenType.SLASH
              and token.start == previous_end + 1):
            keyed.append(token.text)  # a stage path segment (@stg/Path/): case matters
            shape.append(token.text.upper())
        else:
            text = token.text.upper()
            keyed.append(text)
            shape.append("?" if re.fullmatch(r"\$\d+", text) else text)
        previous, previous_end = token.token_type, token.end
    return _digest(" ".join(shape)), _digest("\x1f".join(keyed))


def redact_literals(sql: str, dialect: Dialect) -> str:
    """The statement with every literal replaced by ``?`` (literals can hold personal data).

    >>> redact_literals("SELECT * FROM t WHERE email = 'a@b.c' AND n > 5", Dialect.POSTGRES)
    'SELECT * FROM t WHERE email = ? AND n > ?'
    """
    try:
        tokens = tokenize(sql, dialect)
    except (TokenError, ValueError):
        return "<unparsable statement redacted>"
    out: list[str] = []
    pos = 0
    for token in tokens:
        if token.token_type in _LITERAL_TOKENS:
            out.append(sql[pos : token.start])
            out.append("?")
            pos = token.end + 1
    out.append(sql[pos:])
    return "".join(out)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


# --- qualification and scopes -----------------------------------------------------------


def make_schema(tables: dict[tuple[str, ...], tuple[str, ...]], dialect: Dialect) -> MappingSchema:
    """A sqlglot schema for the tables a statement references, keyed by folded names."""
    nested: dict = {}
    depth = max((len(k) for k in tables), default=3)
    for parts, columns in tables.items():
        if len(parts) != depth:
            continue
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = {col: "unknown" for col in columns}
    return MappingSchema(nested, dialect=_dialect(dialect), normalize=False)


def qualify_query(tree: exp.Expr, schema: MappingSchema, dialect: Dialect) -> exp.Expr:
    """Qualify columns and expand stars where the schema allows; unknown columns are kept."""
    return qualify(
        tree,
        schema=schema,
        dialect=_dialect(dialect),
        validate_qualify_columns=False,
        identify=False,
        quote_identifiers=False,
    )


def scope_of(tree: exp.Expr) -> Scope | None:
    return build_scope(tree)


def fold_case(tree: exp.Expr, dialect: Dialect) -> exp.Expr:
    """Fold unquoted identifiers the way the database does."""
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    return normalize_identifiers(tree, dialect=_dialect(dialect))


def parse_copy_options(options: str) -> dict[str, str]:
    """A Postgres COPY option string (``format csv, header true``) → {name: value}.

    >>> parse_copy_options("format csv, delimiter $$:$$, header true")
    {'format': 'csv', 'delimiter': ':', 'header': 'true'}
    """
    result: dict[str, str] = {}
    text = options.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    for item in _split_top_level(text):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition(" ")
        value = value.strip()
        for quote in ("$$", "'", '"'):
            if value.startswith(quote) and value.endswith(quote) and len(value) >= 2 * len(quote):
                value = value[len(quote) : -len(quote)]
                break
        result[name.lower()] = value
    return result


def _split_top_level(text: str) -> list[str]:
    parts, depth, current, quote = [], 0, [], ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            current.append(ch)
            if text.startswith(quote, i):
                current.extend(quote[1:])
                i += len(quote) - 1
                quote = ""
        elif text.startswith("$$", i):
            quote = "$$"
            current.append("$$")
            i += 1
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "(":
            depth += 1
            current.append(ch)
        elif ch == ")":
            depth -= 1
            current.append(ch)
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def sql_of(node: exp.Expr, dialect: Dialect) -> str:
    return node.sql(dialect=_dialect(dialect))
