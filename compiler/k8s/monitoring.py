"""kube-prometheus-stack (Vault Agent on Prometheus, the Vault scrape job) and Grafana."""

from __future__ import annotations

from typing import Any

from ..model import Model
from ..spec.kubernetes import Grafana, Prometheus
from .apps import App, helm, namespace, obj

CA_SECRET = "vault-ca"  # noqa: S105 -- the name of the Secret holding the public CA
# Where the injector mounts vault.hashicorp.com/tls-secret, and the operator a prometheusSpec
# secret, in their containers.
AGENT_TLS_DIR = "/vault/tls"
PROMETHEUS_SECRETS_DIR = "/etc/prometheus/secrets"
TOKEN_FILE = "/vault/secrets/token"  # noqa: S105 -- a path, written by the agent


def prometheus(model: Model) -> list[App]:
    monitoring = model.spec.monitoring
    if monitoring is None or monitoring.prometheus is None:
        return []
    return [_prometheus(model, monitoring.prometheus)]


def grafana(model: Model) -> list[App]:
    monitoring = model.spec.monitoring
    if monitoring is None or monitoring.grafana is None:
        return []
    return [_grafana(monitoring.grafana)]


def _prometheus(model: Model, prom: Prometheus) -> App:
    mount, inputs = model.auth_path, model.inputs
    annotations = {
        "vault.hashicorp.com/agent-inject": "true",
        "vault.hashicorp.com/agent-init-first": "true",
        "vault.hashicorp.com/agent-inject-token": "true",
        "vault.hashicorp.com/role": prom.role,
        "vault.hashicorp.com/auth-path": f"auth/{mount}",
        # The agent writes the token as this group, which Prometheus runs as: it can read it.
        "vault.hashicorp.com/agent-run-as-group": str(prom.run_as_group),
    }
    job: dict[str, Any] = {
        "job_name": "vault",
        "metrics_path": "/v1/sys/metrics",
        "params": {"format": ["prometheus"]},
        "scheme": "https",
        "scrape_interval": prom.scrape_interval,
        "authorization": {"credentials_file": TOKEN_FILE},
        "static_configs": [{"targets": [f"{n.host}:{n.api_port}" for n in model.nodes]}],
    }
    manifests = [namespace(prom.namespace)]
    spec_values: dict[str, Any] = {"podMetadata": {"annotations": annotations}}
    if inputs.ca_cert is not None:
        # A CA certificate is public; it travels as a Secret because that is what the
        # injector's tls-secret annotation and prometheusSpec.secrets mount.
        manifests.append(
            obj(
                "v1",
                "Secret",
                CA_SECRET,
                prom.namespace,
                type="Opaque",
                stringData={"ca.crt": inputs.ca_cert.decode()},
            )
        )
        annotations["vault.hashicorp.com/tls-secret"] = CA_SECRET
        annotations["vault.hashicorp.com/ca-cert"] = f"{AGENT_TLS_DIR}/ca.crt"
        spec_values["secrets"] = [CA_SECRET]
        job["tls_config"] = {"ca_file": f"{PROMETHEUS_SECRETS_DIR}/{CA_SECRET}/ca.crt"}
    spec_values["additionalScrapeConfigs"] = [job]
    chart = helm(
        prom.chart,
        repo_name="prometheus-community",
        repo_url="https://prometheus-community.github.io/helm-charts",
        name="kube-prometheus-stack",
        release=prom.release,
        values={"prometheus": {"prometheusSpec": spec_values}},
    )
    return App("kube-prometheus-stack", prom.namespace, manifests, chart)


def _grafana(grafana: Grafana) -> App:
    provider = grafana.provider
    values: dict[str, Any] = {
        "dashboardProviders": {
            "dashboardproviders.yaml": {
                "apiVersion": 1,
                "providers": [
                    {
                        "name": provider,
                        "orgId": 1,
                        "folder": grafana.folder,
                        "type": "file",
                        "disableDeletion": False,
                        "editable": True,
                        "options": {"path": f"/var/lib/grafana/dashboards/{provider}"},
                    }
                ],
            }
        },
        "dashboards": {
            provider: {
                name: {"url": d.url, "datasource": d.datasource}
                for name, d in grafana.dashboards.items()
            }
        },
    }
    chart = helm(
        grafana.chart,
        repo_name="grafana",
        # The chart moved to grafana-community in January 2026 (grafana/helm-charts
        # charts/grafana/README.md); the old repository gets no new releases.
        repo_url="https://grafana-community.github.io/helm-charts",
        name="grafana",
        release=grafana.release,
        values=values,
    )
    return App("grafana", grafana.namespace, [namespace(grafana.namespace)], chart)
