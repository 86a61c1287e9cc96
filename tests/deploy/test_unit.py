"""The deployed unit: the digest of the rendered manifests, the annotated text, the store copy."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from orchestrator.deploy.render import Rendered, render
from orchestrator.deploy.unit import (
    UNIT_ANNOTATION,
    read_unit,
    rendered_from_text,
    store_unit,
    stored_unit,
    unit_key,
    unit_of,
    with_unit,
)
from orchestrator.errors import StorageError
from orchestrator.releases.stores import Store
from rehearsal.recording import RecordingRunner
from tests.conftest import Dest, make_dest
from tests.deploy.conftest import MANIFESTS

RELEASE = "0123456789abcdef0123456789abcdef"


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    dest: Dest = make_dest(request.param, request, tmp_path)
    return dest.open()


def _rendered(environment: str = "staging") -> Rendered:
    return render(
        RecordingRunner(),
        MANIFESTS,
        environment,
        release_id=RELEASE,
        model_repository=f"s3://bucket/releases/{RELEASE}",
    )


def test_the_unit_is_the_digest_of_the_rendered_text_and_the_template_carries_it() -> None:
    rendered = _rendered()

    digest, applied = with_unit(rendered)

    assert digest == hashlib.sha256(rendered.text.encode()).hexdigest()
    assert f'{UNIT_ANNOTATION}: "{digest}"' in applied
    # the applied text is the rendered text plus that one line
    assert re.sub(rf"\n +{UNIT_ANNOTATION}: .*", "", applied, count=1) == rendered.text
    again = rendered_from_text("staging", applied)
    assert unit_of(again.deployment) == digest
    assert stored_unit(again, RELEASE) == (digest, applied)
    # another overlay (another namespace, other settings) is another unit
    assert with_unit(_rendered("production"))[0] != digest


def test_stored_manifests_round_trip_and_are_created_once(store: Store) -> None:
    digest, applied = with_unit(_rendered())

    store_unit(store, digest, applied)
    store_unit(store, digest, applied)  # create-if-absent: the same bytes again is fine

    assert read_unit(store, digest) == applied
    assert read_unit(store, "f" * 64) is None


def test_stored_manifests_changed_after_they_were_applied_are_refused(store: Store) -> None:
    digest, applied = with_unit(_rendered())
    store.replace(unit_key(digest), applied.replace("replicas", "replicas ", 1).encode(), None)

    with pytest.raises(StorageError, match="does not hash to its unit"):
        read_unit(store, digest)
    with pytest.raises(StorageError, match="does not hash to its unit"):
        store_unit(store, digest, applied)


def test_a_unit_key_needs_a_sha256_digest() -> None:
    with pytest.raises(StorageError, match="is not a unit digest"):
        unit_key("../environments/production")
