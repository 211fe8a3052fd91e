"""Regenerate ``values-keys/<chart>.json`` from the ``values.yaml`` of one chart version.

Run from the repository root, on a clone (or a bare mirror) of the chart's source repository::

    python schemas/k8s/refresh_values_keys.py grafana --git ../helm-charts --rev grafana-12.11.1

or on a values.yaml already at hand (then say where it came from)::

    python schemas/k8s/refresh_values_keys.py grafana --values values.yaml --source "..."

The tree follows the upstream file mechanically (a mapping's keys become children, an empty
mapping is free-form, anything else is a leaf; commented-out keys are not listed). What was
decided by hand is the data in ``CHARTS`` below, never an edit of the JSON: re-running on the
same revision gives the same file. A rule that names a key the values.yaml no longer has is
reported on stderr, so a refresh shows which decisions need a look.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

# key -> subtree; {} is a leaf, a "*" child accepts any key (see schemas/k8s/README.md).
Tree = dict[str, "Tree"]

OUT = Path(__file__).resolve().parent / "values-keys"


def free() -> Tree:
    """A fresh free-form node."""
    return {"*": {}}


@dataclass(frozen=True)
class ChartRules:
    """Where a chart comes from, and what was decided by hand about its keys.

    Paths are the keys from the top joined by ``/`` (keys such as ``grafana.ini`` hold dots).
    """

    repository: str  # the Helm repository picluster points Flux / Argo CD at
    upstream: str  # owner/name of the repository holding the chart's source
    values_path: str  # values.yaml inside ``upstream``
    note: str | None = None
    # Nothing below is checked: the chart hands the block to Kubernetes (toYaml) or iterates
    # over user-chosen names, so the example keys of values.yaml are not the allowed ones.
    free_form: frozenset[str] = frozenset()
    # The upstream keys are listed, and any other key is accepted too (sub-charts, and blocks
    # rendered whole whose values.yaml shows only some fields).
    passthrough: frozenset[str] = frozenset()
    # Keys that upstream documents only in comments but the templates read, listed by hand
    # because picluster or its users rely on them (under an empty mapping they replace "*").
    listed: Mapping[str, Tree] = field(default_factory=dict)


CHARTS: dict[str, ChartRules] = {
    "vault": ChartRules(
        repository="https://helm.releases.hashicorp.com",
        upstream="hashicorp/vault-helm",
        values_path="values.yaml",
        note="Keys that are only commented out upstream (e.g. "
        "injector.agentDefaults.ephemeralLimit/ephemeralRequest, "
        "server.service.type/clusterIP/nodePort) are intentionally NOT listed.",
        # "tls will be passed directly to the route's TLS config" (values.yaml).
        free_form=frozenset({"server/route/tls"}),
        # templates/_helpers.tpl csi.agent.securityContext.container: toYaml of the block.
        passthrough=frozenset({"csi/agent/securityContext/container"}),
    ),
    "external-secrets": ChartRules(
        repository="https://charts.external-secrets.io",
        upstream="external-secrets/external-secrets",
        values_path="deploy/charts/external-secrets/values.yaml",
        note="Security contexts and the controller's probe specs are rendered whole "
        "(templates/_helpers.tpl renderSecurityContext, deployment.yaml toYaml): "
        "their listed keys are examples, any key is accepted.",
        passthrough=frozenset(
            {
                "podSecurityContext",
                "securityContext",
                "webhook/podSecurityContext",
                "webhook/securityContext",
                "certController/podSecurityContext",
                "certController/securityContext",
                "livenessProbe/spec",
                "readinessProbe/spec",
            }
        ),
    ),
    "kube-prometheus-stack": ChartRules(
        repository="https://prometheus-community.github.io/helm-charts",
        upstream="prometheus-community/helm-charts",
        values_path="charts/kube-prometheus-stack/values.yaml",
        note="Sub-chart sections (grafana.*, kube-state-metrics, prometheus-node-exporter, "
        "prometheus-windows-exporter) are passthrough: grafana.* additionally accepts any "
        "key of values-keys/grafana.json, expressed here as '*'. Component scrape blocks "
        "(serviceMonitor, service, upgradeJob, ...) are listed only to the level we need and "
        "are free-form below.",
        free_form=frozenset(
            {
                "crds/upgradeJob",
                "defaultRules/rules",
                "defaultRules/additionalRuleGroupLabels",
                "defaultRules/additionalRuleGroupAnnotations",
                "alertmanager/alertmanagerSpec",
                "alertmanager/config",
                "alertmanager/extraSecret",
                "alertmanager/networkPolicy",
                "alertmanager/podDisruptionBudget",
                "alertmanager/serviceAccount",
                "kube-state-metrics",
                "prometheus-node-exporter",
                "prometheus-windows-exporter",
                "prometheusOperator",
                "thanosRuler",
                "nodeExporter/operatingSystems",
                *(
                    f"{component}/{block}"
                    for component in (
                        "coreDns",
                        "kubeControllerManager",
                        "kubeDns",
                        "kubeEtcd",
                        "kubeProxy",
                        "kubeScheduler",
                    )
                    for block in ("service", "serviceMonitor")
                ),
                "kubeApiServer/tlsConfig",
                "kubeApiServer/serviceMonitor",
                "kubelet/serviceMonitor",
                *(
                    f"prometheus/{block}"
                    for block in (
                        "extraSecret",
                        "ingress",
                        "ingressPerReplica",
                        "networkPolicy",
                        "podDisruptionBudget",
                        "route",
                        # templates/prometheus/routeperreplica.yaml: range over user names.
                        "routePerReplica",
                        "service",
                        "serviceMonitor",
                        "servicePerReplica",
                        "thanosIngress",
                        "thanosService",
                        "thanosServiceExternal",
                        "thanosServiceMonitor",
                    )
                ),
                "prometheus/prometheusSpec/securityContext",
            }
        ),
        passthrough=frozenset(
            {
                "alertmanager",
                "grafana",
                "grafana/sidecar",
                "grafana/sidecar/dashboards",
                "grafana/sidecar/datasources",
            }
        ),
        # Documented in comments under `{}` in values.yaml; podMetadata carries the Vault Agent
        # annotations picluster writes (compiler/k8s/monitoring.py).
        listed={
            "prometheus/prometheusSpec/podMetadata": {"labels": free(), "annotations": free()},
            "prometheus/prometheusSpec/additionalScrapeConfigsSecret": {
                "enabled": {},
                "name": {},
                "key": {},
            },
            "prometheus/prometheusSpec/additionalAlertManagerConfigsSecret": {
                "name": {},
                "key": {},
                "optional": {},
            },
            "prometheus/prometheusSpec/additionalAlertRelabelConfigsSecret": {
                "name": {},
                "key": {},
            },
        },
    ),
    "grafana": ChartRules(
        repository="https://grafana-community.github.io/helm-charts",
        upstream="grafana-community/helm-charts",
        values_path="charts/grafana/values.yaml",
        note="datasources/dashboards/dashboardProviders are file-name keyed maps, hence "
        "free-form; so are Kubernetes objects the chart renders whole (security contexts, "
        "probes, deployment strategy), grafana.ini and imageRenderer. route and listenerSet "
        "are keyed by names the user picks ('main' is the example).",
        free_form=frozenset(
            {
                "securityContext",
                "containerSecurityContext",
                "deploymentStrategy",
                "readinessProbe",
                "livenessProbe",
                "downloadDashboards/securityContext",
                "initChownData/securityContext",
                "sidecar/securityContext",
                "grafana.ini",
                "imageRenderer",
            }
        ),
        # templates/route.yaml, listenerset.yaml: range $name, ... := .Values.route
        passthrough=frozenset({"route", "listenerSet"}),
        # Commented out in values.yaml ("Set these to override the Prometheus global scrape
        # interval/timeout"), read by templates/servicemonitor.yaml.
        listed={"serviceMonitor": {"namespace": {}, "interval": {}, "scrapeTimeout": {}}},
    ),
}


def keys_tree(values: Any) -> Tree:
    """The mechanical tree of ``values``: a non-empty mapping's keys are its children, an
    empty mapping (``{}``, to be filled by the user) is free-form, anything else a leaf."""
    if not isinstance(values, dict):
        return {}
    if not values:
        return free()
    return {str(key): keys_tree(value) for key, value in values.items()}


def apply_rules(tree: Tree, rules: ChartRules) -> list[str]:
    """Apply the hand decisions of ``rules`` to ``tree`` in place; the rules that name a key
    the tree lacks, one line each."""
    stale = []
    for path in sorted(rules.free_form):
        node = _node(tree, path)
        if node is None:
            stale.append(f"free_form {path}: no such key in values.yaml")
        else:
            node.clear()
            node.update(free())
    for path in sorted(rules.passthrough):
        node = _node(tree, path)
        if node is None:
            stale.append(f"passthrough {path}: no such key in values.yaml")
        else:
            node["*"] = {}
    for path, keys in sorted(rules.listed.items()):
        node = _node(tree, path)
        if node is None:
            stale.append(f"listed {path}: no such key in values.yaml")
        else:
            node.pop("*", None)
            node.update(json.loads(json.dumps(keys)))  # a copy: the rules stay untouched
    return stale


def _node(tree: Tree, path: str) -> Tree | None:
    node = tree
    for key in path.split("/"):
        child = node.get(key)
        if child is None:
            return None
        node = child
    return node


def document(chart: str, rules: ChartRules, values: Any, source: str) -> tuple[str, list[str]]:
    """The text of ``values-keys/<chart>.json`` for ``values``, and the stale rules."""
    if not isinstance(values, dict):
        raise ValueError(f"{chart}: values.yaml is not a mapping")
    tree = keys_tree(values)
    stale = apply_rules(tree, rules)
    doc: dict[str, Any] = {"chart": chart, "repository": rules.repository, "source": source}
    if rules.note:
        doc["note"] = rules.note
    doc["keys"] = tree
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n", stale


def _git(repo: str, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, *args], capture_output=True, text=True, check=True
    ).stdout


def from_git(rules: ChartRules, repo: str, rev: str) -> tuple[str, str]:
    """The values.yaml text at ``rev`` of the clone ``repo``, and its ``source`` line."""
    commit = _git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}").strip()
    values = _git(repo, "show", f"{commit}:{rules.values_path}")
    chart_yaml = PurePosixPath(rules.values_path).with_name("Chart.yaml")
    meta = yaml.safe_load(_git(repo, "show", f"{commit}:{chart_yaml}"))
    source = (
        f"{rules.upstream} {rules.values_path}@{commit} "
        f"(chart {meta['version']}, app {meta.get('appVersion', '?')})"
    )
    return values, source


def main(argv: Iterable[str] | None = None) -> int:
    """Write ``values-keys/<chart>.json``; exit 1 when a hand decision names a missing key."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chart", choices=sorted(CHARTS))
    origin = parser.add_mutually_exclusive_group(required=True)
    origin.add_argument("--git", metavar="REPO", help="a clone of the chart's source repository")
    origin.add_argument("--values", metavar="FILE", type=Path, help="a values.yaml file")
    parser.add_argument("--rev", help="with --git: the tag or commit of the chart version")
    parser.add_argument("--source", help="with --values: where the file came from")
    parser.add_argument(
        "--out", type=Path, default=OUT, help="directory written (default: %(default)s)"
    )
    args = parser.parse_args(None if argv is None else list(argv))
    rules = CHARTS[args.chart]
    if args.git is not None:
        if args.rev is None:
            parser.error("--git needs --rev")
        try:
            text, source = from_git(rules, args.git, args.rev)
        except subprocess.CalledProcessError as exc:
            parser.exit(1, f"{args.git}: git {' '.join(exc.cmd[3:])}: {exc.stderr.strip()}\n")
    else:
        if args.source is None:
            parser.error("--values needs --source")
        text, source = args.values.read_text(encoding="utf-8"), args.source
    out, stale = document(args.chart, rules, yaml.safe_load(text), source)
    target = args.out / f"{args.chart}.json"
    target.write_text(out, encoding="utf-8")
    print(f"{target}: {source}")
    for line in stale:
        print(f"{args.chart}: {line}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
