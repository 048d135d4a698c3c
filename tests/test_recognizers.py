"""Every [[example]] in parsers/ runs here, and docs/recognizers.md must be current."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3lineage.errors import CatalogueError
from s3lineage.resolve.api import explain
from s3lineage.resolve.catalogue import load_catalogue, load_recognizer, render_markdown

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = load_catalogue()


def display(dataset: dict) -> str:
    if dataset["kind"] == "s3":
        return f"{dataset['namespace']}/{dataset['name']}"
    if dataset["kind"] == "stage":
        return "@" + dataset["name"]
    return dataset["name"]


EXAMPLES = [
    pytest.param(r, e, id=f"{r.id}:{e.name}") for r in CATALOGUE for e in r.examples
]


@pytest.mark.parametrize(("recognizer", "example"), EXAMPLES)
def test_example(recognizer, example):
    dialect = example.dialect or next(iter(recognizer.dialects))
    out = explain(
        example.sql,
        dialect,
        default_database=example.default_database,
        default_schema=example.default_schema,
        search_path=list(example.search_path),
        schema=example.schema or None,
    )
    assert recognizer.id in (out["recognizer"] or "").split("+"), out
    assert sorted(display(d) for d in out["inputs"]) == sorted(example.inputs), out
    assert sorted(display(d) for d in out["outputs"]) == sorted(example.outputs), out
    if example.columns is not None:
        got = {c["target"]: sorted(c["sources"]) for c in out["columns"]}
        want = {t: sorted(s) for t, s in example.columns.items() if s}
        assert got == want, out
    codes = {d["code"] for d in out["diagnostics"]}
    assert set(example.diagnostics) <= codes, out


def test_recognizers_doc_is_current():
    doc = ROOT / "docs" / "recognizers.md"
    expected = render_markdown(CATALOGUE)
    assert doc.exists() and doc.read_text(encoding="utf-8") == expected, (
        "docs/recognizers.md is stale: run `s3lineage recognizers --markdown > docs/recognizers.md`"
    )


def test_every_handler_and_dialect_is_covered():
    handlers = {r.handler for r in CATALOGUE}
    from s3lineage.resolve.handlers import HANDLERS

    assert handlers == set(HANDLERS)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('title = "x"\nhandler = "sql_select"\n', "missing required key 'dialect'"),
        ('title="x"\ndialect="postgres"\nhandler="nope"\n[match]\n[[example]]\nsql="select 1"\n', "handler 'nope'"),
        ('title="x"\ndialect="postgres"\nhandler="sql_select"\n[match]\ncolour="red"\n[[example]]\nsql="x"\n',
         "unknown match key 'colour'"),
        ('title="x"\ndialect="postgres"\nhandler="sql_select"\nmatch={}\nexample=[]\n', "at least one [[example]]"),
        ('title="x"\ndialect="postgres"\nhandler="sql_select"\nextra=1\n', "unknown key"),
    ],
)
def test_malformed_idiom_files_are_rejected_with_the_file_named(tmp_path, body, message):
    path = tmp_path / "mine" / "bad.toml"
    path.parent.mkdir()
    path.write_text(body)
    with pytest.raises(CatalogueError) as err:
        load_recognizer(path, tmp_path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_user_idiom_dir_adds_and_overrides(tmp_path):
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "unload_to_gcs.toml").write_text(
        'title = "my COPY to program"\ndialect = "postgres"\nhandler = "pg_copy_export"\npriority = 1\n'
        '[match]\nstatement = ["copy"]\ntext = "my-uploader"\n'
        '[[example]]\nsql = "COPY t TO PROGRAM \'my-uploader s3://b/k\'"\ninputs = ["public.t"]\n'
        'outputs = ["s3://b/k"]\n'
    )
    catalogue = load_catalogue([tmp_path])
    assert catalogue[0].id == "custom/unload_to_gcs"
    from s3lineage.resolve.resolver import Resolver

    out = explain("COPY t TO PROGRAM 'my-uploader s3://b/k'", "postgres", resolver=Resolver(catalogue))
    assert out["recognizer"] == "custom/unload_to_gcs"
