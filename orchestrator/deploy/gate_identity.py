"""What a gate measured, by content: each model's files and the pod spec that served them.

A model's throughput in an environment can change for two reasons a release controls:

- its **files** (``config.pbtxt``, the served version folders: a retrain, a new config);
- the **pod spec** of the ``triton`` Deployment in the unit's applied manifests (the image,
  Triton's flags, the environment, CPU and memory requests and limits, volumes, node
  placement), and any ``LimitRange`` applied with it (it sets a pod's defaults).

``Identity`` holds both as digests; a gate record keeps it (``identity``), so a later gate
can tell which measurements were of the same thing. Left out, because a pod does not run
faster or slower for them: labels and annotations (the release and unit annotations among
them), the Service, the autoscaler, the disruption budget, the network policy. The
release id is masked in the pod spec (it is in ``MODEL_REPOSITORY``): a release that
serves the same bytes under the same spec is the same thing measured.

A digest that cannot be known (a format-1 pointer, or a unit the store does not hold) is
None, and a model with an unknown digest never counts as unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.deploy.render import DEPLOYMENT
from orchestrator.deploy.unit import read_unit
from orchestrator.deploy.yaml_text import load_documents
from orchestrator.errors import ConfigError, StorageError
from orchestrator.releases.manifest import Release
from orchestrator.releases.stores.base import Store

__all__ = ["Identity", "identity_of", "serving_digest"]

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_RELEASE_MASK = "<release>"


@dataclass(frozen=True)
class Identity:
    """What one deployment served: the pod spec's digest and each model's files' digest.

    ``serving`` is None when the unit's manifests are unknown.
    """

    serving: str | None
    models: Mapping[str, str] = field(default_factory=dict)

    def of(self, model: str) -> str | None:
        """One digest of ``model``'s files under this pod spec, or None when either is unknown.

        Example:
            >>> Identity("a" * 64, {"m": "b" * 64}).of("m")[:12]
            '6833518a5283'
        """
        files = self.models.get(model)
        if self.serving is None or files is None:
            return None
        return hashlib.sha256(f"{files}\n{self.serving}".encode()).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in a gate record."""
        return {"serving": self.serving, "models": dict(sorted(self.models.items()))}

    @classmethod
    def from_record(cls, body: Mapping[str, Any]) -> Identity | None:
        """The identity a gate record keeps, or None (an older record, or not ours).

        The record is untrusted: anything but sha256 hex digests is ignored.
        """
        found = body.get("identity")
        if not isinstance(found, dict):
            return None
        serving = found.get("serving")
        models = found.get("models")
        if not isinstance(serving, str) or not _SHA256.fullmatch(serving):
            return None
        if not isinstance(models, dict):
            return None
        kept = {
            str(name): digest
            for name, digest in models.items()
            if isinstance(digest, str) and _SHA256.fullmatch(digest)
        }
        return cls(serving, kept)


def identity_of(store: Store, release: Release | None, unit: str | None) -> Identity:
    """The identity of ``release`` served by ``unit`` (the digests that can be known)."""
    models: dict[str, str] = {}
    if release is not None:
        for model in release.models:
            prefix = f"{model.name}/"
            files = sorted(
                (name, digest.sha256)
                for name, digest in release.files.items()
                if name.startswith(prefix)
            )
            text = "\n".join(f"{name} {sha256}" for name, sha256 in files)
            models[model.name] = hashlib.sha256(text.encode()).hexdigest()
    serving = None
    if unit is not None and release is not None:
        serving = serving_digest(store, unit, release.id)
    return Identity(serving, models)


def serving_digest(store: Store, unit: str, release_id: str) -> str | None:
    """The digest of the pod spec (and any LimitRange) of a stored unit, else None.

    None when the store does not hold the unit, or its manifests cannot be read (a
    tampered unit is refused by ``read_unit``): an unknown spec is never "unchanged".

    Example:
        >>> serving_digest(store, pointer.unit, pointer.release_id)  # doctest: +SKIP
        '5e0c...'
    """
    try:
        text = read_unit(store, unit)
        documents = load_documents(text, what=f"unit {unit}") if text is not None else None
    except (StorageError, ConfigError) as exc:
        logger.warning("Unit %s: its pod spec is unknown (%s)", unit, exc)
        return None
    if documents is None:
        logger.info("The store holds no manifests of unit %s", unit)
        return None
    kept: list[Any] = []
    for document in documents:
        if not isinstance(document, dict):
            continue
        kind, metadata = document.get("kind"), document.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if kind == "Deployment" and name == DEPLOYMENT:
            spec = document.get("spec")
            template = spec.get("template") if isinstance(spec, dict) else None
            pod = template.get("spec") if isinstance(template, dict) else None
            kept.append({"kind": kind, "pod": pod})
        elif kind == "LimitRange":
            kept.append({"kind": kind, "spec": document.get("spec")})
    if not any(item["kind"] == "Deployment" for item in kept):
        logger.warning("Unit %s has no %s Deployment: its pod spec is unknown", unit, DEPLOYMENT)
        return None
    canonical = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.replace(release_id, _RELEASE_MASK).encode()).hexdigest()
