"""The deployed unit: a release together with the manifests (and image) that serve it.

A push that changes only ``deployment/**`` or the image keeps the release id but is a
new deployment, so environments record the unit, not the release alone:

- the unit digest is the sha256 of the rendered manifests (``kubectl kustomize`` of the
  overlay plus the release layer: the image reference, probes, resources, the release);
- the manifests actually applied are that text with one more pod-template annotation,
  ``triton-orchestrator/unit: "<digest>"`` (beside ``triton-orchestrator/release``), so
  the digest is well defined: it is computed before the annotation is added, and removing
  that one line gives the hashed text back (``read_unit`` checks exactly that);
- the applied manifests are kept in the store, content-addressed and create-if-absent,
  at ``STORE/units/<digest>/manifests.yaml``, before the environment pointer moves, so a
  rollback applies what was applied then, not today's overlay with an old release.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.deploy.kubectl import KubectlRunner
from orchestrator.deploy.render import (
    DEPLOYMENT,
    RELEASE_ANNOTATION,
    Rendered,
    render,
    template_annotations,
)
from orchestrator.deploy.yaml_text import load_documents
from orchestrator.errors import ConfigError, DeployError, StorageError
from orchestrator.releases.stores.base import Store
from orchestrator.releases.stores.serving_url import serving_url

__all__ = [
    "UNITS_PREFIX",
    "UNIT_ANNOTATION",
    "planned_unit",
    "read_unit",
    "rendered_from_text",
    "store_unit",
    "stored_unit",
    "unit_key",
    "unit_of",
    "with_unit",
]

logger = logging.getLogger(__name__)

UNIT_ANNOTATION = "triton-orchestrator/unit"
UNITS_PREFIX = "units"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RELEASE_LINE = re.compile(rf"^( +){re.escape(RELEASE_ANNOTATION)}: .*$", re.MULTILINE)
_UNIT_LINE = re.compile(rf"^ +{re.escape(UNIT_ANNOTATION)}: .*\n", re.MULTILINE)


def unit_key(digest: str) -> str:
    """``units/<digest>/manifests.yaml``, after checking the digest is sha256 hex."""
    if not _SHA256.fullmatch(digest):
        raise StorageError(f"{digest!r} is not a unit digest (64 lower-case hex characters).")
    return f"{UNITS_PREFIX}/{digest}/manifests.yaml"


def with_unit(rendered: Rendered) -> tuple[str, str]:
    """The unit digest of rendered manifests, and the text to apply (annotation added).

    Raises:
        DeployError: the text does not carry the release annotation exactly once (it is
            added by ``render``'s release layer), or the annotated text does not parse
            back to the same digest.

    Example:
        >>> digest, applied = with_unit(render(runner, manifests, "staging", ...))  # doctest: +SKIP
    """
    digest = hashlib.sha256(rendered.text.encode()).hexdigest()
    lines = list(_RELEASE_LINE.finditer(rendered.text))
    if len(lines) != 1:
        raise DeployError(
            f"The rendered {rendered.environment} manifests carry {RELEASE_ANNOTATION} "
            f"{len(lines)} times; expected once, on the {DEPLOYMENT} pod template."
        )
    line = lines[0]
    indent = line.group(1)
    applied = (
        rendered.text[: line.end()]
        + f'\n{indent}{UNIT_ANNOTATION}: "{digest}"'
        + rendered.text[line.end() :]
    )
    if unit_of(_deployment(applied, rendered.environment)) != digest:
        raise DeployError(
            f"Could not annotate the rendered {rendered.environment} manifests with their "
            f"unit digest (the {RELEASE_ANNOTATION} line is not in the pod template)."
        )
    return digest, applied


def planned_unit(
    store: Store, environment: str, release_id: str, *, runner: KubectlRunner, manifests: Path
) -> str:
    """The unit digest a deploy of ``release_id`` to ``environment`` would apply now.

    Example:
        >>> planned_unit(store, "production", "3f1c...", runner=SubprocessKubectl(),
        ...              manifests=Path("deployment/k8s"))  # doctest: +SKIP
        '9e8d...'
    """
    model_repository = serving_url(store.url, release_id, endpoint_url=store.endpoint_url)
    rendered = render(
        runner, manifests, environment, release_id=release_id, model_repository=model_repository
    )
    return with_unit(rendered)[0]


def unit_of(deployment: Mapping[str, Any] | None) -> str | None:
    """The unit digest a Deployment's pod template carries, if any."""
    if not isinstance(deployment, Mapping):
        return None
    value = template_annotations(deployment).get(UNIT_ANNOTATION)
    return str(value) if isinstance(value, str) and _SHA256.fullmatch(value) else None


def store_unit(store: Store, digest: str, applied: str) -> None:
    """Keep the applied manifests of a unit in the store (create-if-absent).

    Raises:
        StorageError: the store holds other manifests under this digest.
    """
    key = unit_key(digest)
    if store.create(key, applied.encode()):
        logger.info("Stored the manifests of unit %s in %s", digest, store.url)
        return
    if read_unit(store, digest) != applied:
        raise StorageError(
            f"{store.url}/{key} holds other manifests than unit {digest} applies. Delete "
            "that object (it does not match its name) and deploy again."
        )


def read_unit(store: Store, digest: str) -> str | None:
    """The applied manifests of a unit, or None when the store has none (older deploys).

    Checked as untrusted input: without its unit annotation line, the text must hash to
    the digest it is stored under.

    Raises:
        StorageError: the stored text does not match its digest.
    """
    key = unit_key(digest)
    found = store.read(key)
    if found is None:
        return None
    try:
        text = found.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StorageError(f"{store.url}/{key} is not UTF-8 text: {exc}.") from exc
    bare = _UNIT_LINE.sub("", text, count=1)
    if hashlib.sha256(bare.encode()).hexdigest() != digest:
        raise StorageError(
            f"{store.url}/{key} does not hash to its unit {digest}: it was changed after it "
            "was applied. Refusing it; roll back with --to RELEASE instead."
        )
    return text


def stored_unit(rendered: Rendered, release_id: str) -> tuple[str, str]:
    """The digest and text of stored manifests applied again (they carry their unit).

    Raises:
        DeployError: they carry no unit, or another release than ``release_id``.
    """
    digest = unit_of(rendered.deployment)
    found = rendered.deployment.get("spec", {}).get("template", {})
    release = (found.get("metadata", {}).get("annotations") or {}).get(RELEASE_ANNOTATION)
    if digest is None or release != release_id:
        raise DeployError(
            f"The stored {rendered.environment} manifests carry unit {digest} and release "
            f"{release!r}, not release {release_id!r}. Roll back with --to RELEASE instead."
        )
    return digest, rendered.text


def rendered_from_text(environment: str, text: str) -> Rendered:
    """Stored manifests as ``Rendered`` (objects and namespace), to apply them again.

    Raises:
        DeployError: the text has no ``triton`` Deployment with a namespace.
    """
    deployment = _deployment(text, environment)
    namespace = deployment.get("metadata", {}).get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise DeployError(f"The stored {environment} manifests' Deployment has no namespace.")
    objects = tuple(load_documents(text, what=f"the stored {environment} manifests"))
    return Rendered(environment, text, objects, namespace)


def _deployment(text: str, environment: str) -> Mapping[str, Any]:
    try:
        documents = load_documents(text, what=f"the {environment} manifests")
    except ConfigError as exc:
        raise DeployError(str(exc)) from exc
    for document in documents:
        if (
            isinstance(document, dict)
            and document.get("kind") == "Deployment"
            and document.get("metadata", {}).get("name") == DEPLOYMENT
        ):
            return document
    raise DeployError(f"The {environment} manifests have no Deployment {DEPLOYMENT!r}.")
