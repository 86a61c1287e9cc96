"""The deploy lock's Lease on the played cluster: renewed while a deploy runs, and lost loudly.

The played cluster keeps Leases as the API server does for these verbs: ``create`` of an
existing one is ``AlreadyExists``, ``replace`` against a stale ``resourceVersion`` is 409
Conflict (rehearsal/played_cluster.py). The Lease's contract (``coordination.k8s.io/v1``
LeaseSpec): candidates may take it once ``leaseDurationSeconds`` have passed since the last
observed ``renewTime``, so a holder that renews is never stale.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchestrator.deploy.lock import LEASE, LeaseKeeper, release_lock, take_lock
from orchestrator.errors import DeployError
from rehearsal.played_cluster import PlayedCluster

NS = "triton-staging"


def _lease(cluster: PlayedCluster) -> dict[str, object]:
    found = cluster.namespaces[NS].leases[LEASE]
    spec = found["spec"]
    assert isinstance(spec, dict)
    return spec


def _renewed(keeper: LeaseKeeper, times: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while keeper.renewals < times and not keeper.lost:
        assert time.monotonic() < deadline, "the Lease was not renewed"
        time.sleep(0.02)


def test_a_renewed_lease_is_not_stale_after_its_duration(tmp_path: Path) -> None:
    cluster = PlayedCluster(workdir=tmp_path, existing_namespaces={NS})
    # Two seconds: lock.py reads renewTime to the second.
    held = take_lock(cluster, NS, "staging", duration_s=2, holder="first")
    acquired = _lease(cluster)["acquireTime"]

    with LeaseKeeper(cluster, held, every_s=0.1) as keeper:
        _renewed(keeper, 2)
        time.sleep(2.5)  # longer than leaseDurationSeconds: without renewals, stale
        with pytest.raises(DeployError, match="being deployed by first"):
            take_lock(cluster, NS, "staging", duration_s=2, holder="second")
        spec = _lease(cluster)
        assert spec["holderIdentity"] == "first"
        assert spec["acquireTime"] == acquired  # renewing moves renewTime only
        assert spec["renewTime"] != acquired

    assert keeper.lost == ""
    assert keeper.held.resource_version != held.resource_version
    # Given back against the version the keeper wrote last (the first one is stale now).
    assert release_lock(cluster, keeper.held) is None
    assert _lease(cluster)["holderIdentity"] == ""


def test_a_lease_broken_during_the_deploy_stops_the_renewals_and_says_so(tmp_path: Path) -> None:
    cluster = PlayedCluster(workdir=tmp_path, existing_namespaces={NS})
    held = take_lock(cluster, NS, "staging", duration_s=60, holder="first")

    with LeaseKeeper(cluster, held, every_s=0.1) as keeper:
        _renewed(keeper, 1)
        broke = take_lock(cluster, NS, "staging", duration_s=60, holder="second", break_lock=True)
        _renewed(keeper, 10**6)  # until it stops

    assert "was taken by someone else during this deploy" in keeper.lost
    assert "Conflict" in keeper.lost
    # The second holder keeps it: neither the renewals nor the give-back write over it.
    assert release_lock(cluster, keeper.held) is not None
    assert _lease(cluster)["holderIdentity"] == "second"
    assert release_lock(cluster, broke) is None
