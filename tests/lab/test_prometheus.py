"""Debian's Prometheus scrapes every node with the job the compiler wrote into the
kube-prometheus-stack values, with a token from a login through the ``prometheus`` role.

Stand-in: the Kubernetes API's TokenReview endpoint (``token_review.py``), which the nodes'
kubernetes auth method asks about the service account JWT (no Kubernetes runs here). Inside a
cluster the Vault Agent would make that login and write the token where the job reads it, and
the operator would mount the CA Secret; here those two paths are mapped to files of the test.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support import need

from . import token_review
from .cluster import PROMETHEUS_NS, PROMETHEUS_SA, Cluster, free_port, wait_for
from .network import HOST_ADDRESS

pytestmark = [pytest.mark.lab, pytest.mark.integration]

# Where the generated job expects them inside the Prometheus pod (what the test maps).
TOKEN_FILE = "/vault/secrets/token"
CA_FILE = "/etc/prometheus/secrets/vault-ca/ca.crt"


def generated_job(cluster: Cluster) -> dict[str, Any]:
    """The Vault scrape job of the compiled kube-prometheus-stack values (gitops: plain)."""
    values = yaml.safe_load(
        (cluster.work / "out/kubernetes/kube-prometheus-stack/values.yaml").read_text()
    )
    jobs = values["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"]
    assert [j["job_name"] for j in jobs] == ["vault"]
    job: dict[str, Any] = jobs[0]
    return job


@pytest.fixture
def prometheus_token(cluster: Cluster, tmp_path: Path) -> Iterator[str]:
    """A token from logging in through the ``prometheus`` role, reviewed by the stand-in."""
    with token_review.running(
        tmp_path / "review",
        cluster.ca,
        HOST_ADDRESS,
        cluster.review_port,
        PROMETHEUS_NS,
        PROMETHEUS_SA,
    ) as (review, jwt):
        answer = cluster.session.post(
            f"{cluster.url('node1')}/v1/auth/kubernetes/login",
            json={"role": "prometheus", "jwt": jwt},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        # Reviewed by the stand-in (once, or again by a standby that took the request too).
        assert review.reviews
        assert set(review.reviews) == {(jwt, True)}
        auth = answer.json()["auth"]
        assert sorted(auth["policies"]) == ["default", "prometheus-monitoring"]
        yield auth["client_token"]


def test_prometheus_scrapes_every_node_with_the_generated_job(
    cluster: Cluster, prometheus_token: str, tmp_path: Path
) -> None:
    tools = need("prometheus", "promtool")
    job = generated_job(cluster)
    assert job["authorization"] == {"credentials_file": TOKEN_FILE}
    assert job["tls_config"] == {"ca_file": CA_FILE}
    assert sorted(job["static_configs"][0]["targets"]) == [
        f"{n.address}:8200" for n in cluster.lab.nodes
    ]
    token = tmp_path / "token"
    token.write_text(prometheus_token)
    job["authorization"]["credentials_file"] = str(token)
    job["tls_config"]["ca_file"] = str(cluster.work / "pki" / "ca.crt")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": [job]}))
    checked = subprocess.run(
        [tools["promtool"], "check", "config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    port = free_port("127.0.0.1")
    api = f"http://127.0.0.1:{port}/api/v1"
    log = tmp_path / "prometheus.log"
    with (
        log.open("wb") as out,
        subprocess.Popen(
            [
                tools["prometheus"],
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        ) as prometheus,
    ):
        try:

            def all_up() -> list[dict[str, Any]] | None:
                targets = requests.get(f"{api}/targets", timeout=2).json()["data"]
                active: list[dict[str, Any]] = targets["activeTargets"]
                return active if [t["health"] for t in active] == ["up"] * 3 else None

            targets = wait_for("three targets up", all_up, timeout=60)
            assert sorted(t["labels"]["instance"] for t in targets) == sorted(
                f"{n.address}:8200" for n in cluster.lab.nodes
            )

            def metric() -> list[dict[str, Any]] | None:
                # A node keeps the series of its cluster="" from before init (value 0).
                query = {"query": "max by (instance) (vault_core_unsealed)"}
                found = requests.get(f"{api}/query", params=query, timeout=2).json()
                result: list[dict[str, Any]] = found["data"]["result"]
                return result if len(result) == 3 else None

            series = wait_for("a server metric from every node", metric, timeout=30)
            assert {s["value"][1] for s in series} == {"1"}  # every node says it is unsealed
        finally:
            prometheus.terminate()
            try:
                prometheus.wait(10)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait()
    print(log.read_text()[-2000:])  # shown if the test failed
