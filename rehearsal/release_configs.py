"""The model configs of a stored release, read from the store as a deploy reads them."""

from __future__ import annotations

from orchestrator.core.model_config import ModelConfig, parse_config
from orchestrator.releases.manifest import parse_release_document, release_prefix
from orchestrator.releases.stores import Store

__all__ = ["stored_configs"]


def stored_configs(store: Store, release_id: str) -> dict[str, ModelConfig]:
    """Every model's config of a stored release, read from the store as a deploy reads it."""
    prefix = release_prefix(release_id)
    found = store.read(prefix + "release.json")
    assert found is not None, f"release {release_id} is not in {store.url}"
    configs = {}
    for model in parse_release_document(found.data, prefix).models:
        stored = store.read(f"{prefix}{model.name}/config.pbtxt")
        assert stored is not None
        configs[model.name] = parse_config(stored.data.decode(), model.name)
    return configs
