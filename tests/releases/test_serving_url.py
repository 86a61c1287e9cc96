"""The one rule for the URL Triton serves a release from."""

from __future__ import annotations

import pytest

from orchestrator.errors import StorageError
from orchestrator.releases.stores.serving_url import serving_url


@pytest.mark.parametrize(
    ("store", "endpoint", "expected"),
    [
        ("s3://models/prod", None, "s3://models/prod/releases/abc"),
        ("s3://models", "http://127.0.0.1:9000", "s3://127.0.0.1:9000/models/releases/abc"),
        (
            "s3://models/a/b",
            "https://minio.local",
            "s3://https://minio.local:443/models/a/b/releases/abc",
        ),
        ("s3://models", "http://minio", "s3://minio:80/models/releases/abc"),
        ("gs://models/team_a", None, "gs://models/team_a/releases/abc"),
        # Triton serves from a GCS bucket with '_' (checked against fake-gcs-server)
        ("gs://team_models/prod", None, "gs://team_models/prod/releases/abc"),
        ("file:///srv/store", None, "/srv/store/releases/abc"),
    ],
)
def test_serving_url_for_parseable_stores(store: str, endpoint: str | None, expected: str) -> None:
    assert serving_url(store, "abc", endpoint_url=endpoint) == expected


@pytest.mark.parametrize(
    ("store", "endpoint", "named"),
    [
        ("s3://Models/prod", None, "'Models'"),
        ("s3://my_bucket", None, "'my_bucket'"),
        ("s3://ab", None, "'ab'"),
        ("s3://models/my prefix", None, "'my prefix'"),
        ("s3://models/a+b", None, "'a+b'"),
        ("s3://models/~home", None, "'~home'"),
        ("s3://models/modèles", None, "'modèles'"),
        ("gs://models/a b", None, "'a b'"),
        ("gs://Models", None, "'Models'"),
        ("s3://team_models", None, "'team_models'"),
        ("s3://models", "ftp://host:1", "does not start with http"),
        ("s3://models", "http://user:secret@host:9000", "carries credentials"),
        ("s3://key:secret@models/prod", None, "carries credentials"),
        ("gs://models/a b", "http://user:secret@host:9000", "'a b'"),
        ("s3://models", "http://host:9000/path", "has a path"),
        ("s3://models", "http://host:99999", "port"),
        ("s3://models", "http://ho_st:9000", "host may hold"),
        ("gs://models", "http://host:9000", "s3:// stores only"),
        ("file:///srv", "http://host:9000", "s3:// stores only"),
    ],
)
def test_serving_url_refuses_what_triton_misreads(
    store: str, endpoint: str | None, named: str
) -> None:
    with pytest.raises(StorageError) as caught:
        serving_url(store, "abc", endpoint_url=endpoint)
    assert named in str(caught.value)
    assert "secret" not in str(caught.value)
