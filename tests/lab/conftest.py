"""Fixtures of the lab: three real systemd nodes, booted once per test session.

Tests that use them are marked ``lab`` and ``integration`` (select them with ``-m lab``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support import REQUIRE, need

from .cluster import Cluster, bootstrap
from .lab import Lab, running

PROGRAMS = ("systemd-nspawn", "ip", "sshd", "ssh-keygen", "mount", "umount")


def need_lab() -> None:
    """Skip unless this machine can run the lab (root, nspawn, iproute2, OpenSSH); fail
    instead under ``PICLUSTER_REQUIRE_INTEGRATION=1``, as ``need`` does."""
    need(*PROGRAMS)
    if os.geteuid() != 0:
        message = "the lab needs root (network namespaces, mounts, systemd-nspawn)"
        if REQUIRE:
            pytest.fail(f"{message} (PICLUSTER_REQUIRE_INTEGRATION=1)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def lab_session() -> Iterator[Lab]:
    """The lab, booted when a test first asks for it and taken down at the end of the run."""
    need_lab()
    with running() as lab:
        yield lab


@pytest.fixture
def lab(lab_session: Lab) -> Lab:
    """The session's lab with every node running (one a failed test left off is booted)."""
    lab_session.ensure_running()
    return lab_session


@pytest.fixture(scope="session")
def cluster_session(lab_session: Lab, tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    """The OpenBao cluster, bootstrapped from nothing once per run (the nodes go with it)."""
    need("openssl", "curl", "jq")  # the certificates; the unseal script, run on the nodes
    return bootstrap(lab_session, tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def cluster(cluster_session: Cluster, lab: Lab) -> Cluster:
    """The cluster, every node running and back in it (a failed test may have left one off:
    its units unseal it again by themselves)."""
    cluster_session.wait_converged()
    return cluster_session
