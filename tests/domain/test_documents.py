"""The manifests clients produce, read into (id, document) entries."""

from __future__ import annotations

import pytest

from domain import documents
from domain.errors import Invalid

QUERY = "query A { tenant { slug } }"


def test_an_apollo_manifest_gives_each_operations_id_and_body() -> None:
    manifest = {
        "format": "apollo-persisted-query-manifest", "version": 1,
        "operations": [{"id": "abc", "name": "A", "type": "query", "body": QUERY}],
    }

    assert documents.entries(manifest) == [documents.Entry("abc", QUERY)]


def test_codegen_and_relay_files_map_ids_to_documents() -> None:
    assert documents.entries({"h1": QUERY, "h2": QUERY}) == [
        documents.Entry("h1", QUERY), documents.Entry("h2", QUERY)
    ]


@pytest.mark.parametrize("manifest", [
    [],
    {"format": "apollo-persisted-query-manifest", "version": 2, "operations": []},
    {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id": "x"}]},
    {"format": "something-else"},
    {"h1": 42},
    {"": QUERY},
    {"x" * 201: QUERY},
])
def test_anything_else_is_refused_saying_why(manifest: object) -> None:
    with pytest.raises(Invalid):
        documents.entries(manifest)
