"""Cross-references between sections of a structurally valid spec.

Each check yields located problems; all of them are reported together.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterator
from typing import Any

from .errors import Problem
from .model import Model, store_identity
from .spec import KubernetesRole, Spec
from .spec.kubernetes import Store
from .yamlio import Document, Loc, dotted

RESERVED_MOUNTS = {"sys", "auth", "identity", "cubbyhole"}
# The one capability of the list each server does not know (OpenBao internal/vault/policy;
# Vault's policy.go): the server refuses a policy that names it.
UNKNOWN_CAPABILITY = {"openbao": "subscribe", "vault": "scan"}
BUILTIN_POLICIES = {"default"}


# Where the spec pins each chart, and the chart's name: its values are checked against the keys
# that chart version knows (schemas/k8s/values-keys/).
CHARTS: tuple[tuple[Loc, str], ...] = (
    (("kubernetes", "injector", "chart"), "vault"),
    (("kubernetes", "external_secrets", "chart"), "external-secrets"),
    (("monitoring", "prometheus", "chart"), "kube-prometheus-stack"),
    (("monitoring", "grafana", "chart"), "grafana"),
)


def problems(model: Model, doc: Document) -> list[Problem]:
    """Every cross-reference problem of the model's spec."""
    spec = model.spec
    return [
        *_vault(model, doc),
        *_external_secrets(spec, doc),
        *_monitoring(spec, doc),
        *_chart_values(spec, doc),
        *_access(model, doc),
    ]


def _access(model: Model, doc: Document) -> list[Problem]:
    """What each consumer's role cannot read (compiler.access.checks)."""
    from .access import checks

    return checks.problems(model, doc)


def _chart_values(spec: Spec, doc: Document) -> Iterator[Problem]:
    """Each chart value the user wrote that the chart does not know, at the key written."""
    from .verify.kubernetes import unknown_chart_keys

    for loc, name in CHARTS:
        chart: Any = spec
        for part in loc:
            chart = getattr(chart, str(part), None)
        if chart is None or not chart.values:
            continue
        for inside, message in unknown_chart_keys(name, chart.values):
            yield doc.problem((*loc, "values", *inside), message, key=True)


def _duplicates(items: list[Any]) -> set[Any]:
    return {item for item, n in Counter(items).items() if n > 1}


def _written(doc: Document, loc: Loc, field: str | None = None) -> set[str]:
    """The names the spec's text declares at ``loc`` (a mapping's keys, or the ``field`` of a
    list's items), valid or not: a reference to one of them is not "unknown" even when that
    part was rejected (its own problem is reported there). ``loc`` is read where the text
    has it: a misspelt section is read under the name it was meant to have."""
    node: Any = doc.data
    for part in doc.original(loc):
        node = node.get(part) if isinstance(node, dict) else None
    if field is None:
        return {str(k) for k in node} if isinstance(node, dict) else set()
    items = node if isinstance(node, list) else []
    return {str(i[field]) for i in items if isinstance(i, dict) and field in i}


def _elsewhere(doc: Document, loc: Loc) -> str:
    """``vault.nodes[2]``: another part named in a message, as the spec's text has it."""
    return dotted(doc.original(loc))


def _vault(model: Model, doc: Document) -> Iterator[Problem]:
    vault = model.spec.vault
    nodes = ("vault", "nodes")

    for field, values in (
        ("name", [n.name for n in vault.nodes]),
        ("dns", [n.dns for n in vault.nodes]),
        ("address", [(n.node.address, n.api_port) for n in model.nodes]),
    ):
        first: dict[Any, int] = {}
        for i, value in enumerate(values):
            if value is None:
                continue
            if value not in first:
                first[value] = i
                continue
            if field == "address":
                shown = f"address {value[0]} with api port {value[1]}"
            else:
                shown = f"{'DNS name' if field == 'dns' else field} {value!r}"
            other = _elsewhere(doc, (*nodes, first[value]))
            yield doc.problem((*nodes, i, field), f"{shown} is already used by {other}")

    for i, node in enumerate(model.nodes):
        if node.api_port == node.cluster_port:
            yield doc.problem((*nodes, i), "api port and cluster port must differ")

    unseal = vault.unseal
    if unseal.key_threshold > unseal.key_shares:
        yield doc.problem(
            ("vault", "unseal", "key_threshold"),
            f"key_threshold ({unseal.key_threshold}) is above key_shares ({unseal.key_shares})",
        )
    elif unseal.key_shares > 1 and unseal.key_threshold < 2:
        yield doc.problem(
            ("vault", "unseal", "key_threshold"),
            "with more than one key share the threshold must be at least 2",
        )

    mounts = [e.path for e in vault.secrets_engines]
    for i, path in enumerate(mounts):
        mount_loc: Loc = ("vault", "secrets_engines", i, "path")
        root = path.split("/")[0]
        if root == path and root in RESERVED_MOUNTS:
            yield doc.problem(mount_loc, f"mount path {path!r} is reserved by the server")
        elif root in RESERVED_MOUNTS:
            yield doc.problem(
                mount_loc, f"mount path {path!r} is under {root!r}, which the server reserves"
            )
        if path in mounts[:i]:
            other = _elsewhere(doc, ("vault", "secrets_engines", mounts.index(path)))
            yield doc.problem(mount_loc, f"mount path {path!r} is already used by {other}")

    for name, rules in vault.policies.items():
        loc: Loc = ("vault", "policies", name)
        if name == "root":
            yield doc.problem(loc, "'root' is a built-in policy and cannot be redefined", key=True)
        # OpenBao drops one leading '/' of a rule path and merges the capabilities of rules
        # with the same path (internal/vault/policy/policy.go, parsePaths).
        paths = [r.path.removeprefix("/") for r in rules]
        for j, rule in enumerate(rules):
            if paths[j] in paths[:j]:
                same = rules[paths.index(paths[j])].path
                also = "" if same == rule.path else f" (the server drops a leading '/': {same!r})"
                yield doc.problem((*loc, j, "path"), f"duplicate rule for path {rule.path!r}{also}")
            caps = rule.capabilities
            for cap in _duplicates(list(caps)):
                yield doc.problem((*loc, j, "capabilities"), f"capability {cap!r} listed twice")
            for k, cap in enumerate(caps):
                if cap == UNKNOWN_CAPABILITY[vault.distribution]:
                    product = "OpenBao" if vault.distribution == "openbao" else "HashiCorp Vault"
                    yield doc.problem(
                        (*loc, j, "capabilities", k),
                        f"{product} has no capability {cap!r}; its policy parser refuses it",
                    )
            if "deny" in caps and len(set(caps)) > 1:
                yield doc.problem(
                    (*loc, j, "capabilities"),
                    "'deny' overrides every other capability; list it alone",
                )

    auth = vault.kubernetes_auth
    if auth is not None and auth.ca_cert is None and vault.distribution == "openbao":
        # Vault runs outside the cluster, so picluster sends disable_local_ca_jwt=true, and
        # OpenBao then refuses the config write ("kubernetes_ca_cert must be given when
        # disable_local_ca_jwt is true", builtin/credential/kubernetes/path_config.go).
        yield doc.problem(
            ("vault", "kubernetes_auth"),
            "OpenBao needs the cluster's CA certificate to check the Kubernetes API server: "
            "set ca_cert (k3s keeps it in /var/lib/rancher/k3s/server/tls/server-ca.crt)",
        )
    if vault.kubernetes_auth is not None:
        known = set(vault.policies) | BUILTIN_POLICIES
        written = _written(doc, ("vault", "policies"))
        for role, spec_role in vault.kubernetes_auth.roles.items():
            for k, policy in enumerate(spec_role.policies):
                if policy not in known and policy not in written:
                    yield doc.problem(
                        ("vault", "kubernetes_auth", "roles", role, "policies", k),
                        f"unknown policy {policy!r}{_suggest(policy, known)}",
                    )


def _suggest(word: str, choices: set[str]) -> str:
    if not choices:
        return ""  # nothing is declared: nothing to suggest
    # The best match comes first (difflib's default cutoff, 0.6, is what a typo takes).
    close = difflib.get_close_matches(word, sorted(choices))
    return f"; did you mean {close[0]!r}?" if close else f"; defined: {', '.join(sorted(choices))}"


def warnings(model: Model, doc: Document) -> list[Problem]:
    """Problems worth saying that do not stop the compile."""
    from .access import checks

    spec = model.spec
    return [*_warnings(spec, doc), *checks.warnings(model, doc)]


def _warnings(spec: Spec, doc: Document) -> Iterator[Problem]:
    auth = spec.vault.kubernetes_auth
    if auth is not None and auth.ca_cert is None and spec.vault.distribution == "vault":
        yield doc.problem(
            ("vault", "kubernetes_auth"),
            "warning: without ca_cert, Vault checks the Kubernetes API server against the "
            "nodes' system CAs, which do not hold a cluster's own CA (k3s, kubeadm): every "
            "login would fail; set ca_cert unless the API server's certificate is public",
        )
    unseal = spec.vault.unseal
    if unseal.service:
        yield doc.problem(
            ("vault", "unseal", "service"),
            "warning: the unseal keys will be stored on the Vault nodes themselves, so anyone "
            "who gets the disk gets the data; keep a copy of the keys off the nodes, or set "
            "service: false and unseal by hand",
        )


# --- the Kubernetes side ---------------------------------------------------------------------


def _role(spec: Spec, doc: Document, name: str, loc: Loc) -> Problem | KubernetesRole | None:
    """The Vault role ``name``, or the problem of its absence (None when the part that would
    declare it was itself rejected)."""
    auth = spec.vault.kubernetes_auth
    declared = _written(doc, ("vault",))
    if auth is None:
        if "kubernetes_auth" not in declared:
            return doc.problem(
                loc, f"role {name!r} needs vault.kubernetes_auth, which is not declared"
            )
    elif name not in auth.roles:
        if name not in _written(doc, ("vault", "kubernetes_auth", "roles")):
            return doc.problem(loc, f"unknown role {name!r}{_suggest(name, set(auth.roles))}")
    else:
        return auth.roles[name]
    return None


def _binds(
    role_name: str, role: KubernetesRole, account: str, namespace: str, what: str
) -> str | None:
    if account not in role.service_accounts:
        return f"role {role_name!r} does not bind the {what} service account {account!r}"
    if namespace not in role.namespaces:
        return f"role {role_name!r} does not bind the {what} namespace {namespace!r}"
    return None


def _external_secrets(spec: Spec, doc: Document) -> Iterator[Problem]:
    k8s = spec.kubernetes
    if k8s is None:
        return
    if (
        k8s.gitops != "plain"
        and k8s.repository is None
        and "repository" not in _written(doc, ("kubernetes",))
    ):
        yield doc.problem(
            ("kubernetes", "gitops"),
            f"gitops {k8s.gitops} needs "
            "kubernetes.repository (where the compiled tree is committed)",
        )
    eso = k8s.external_secrets
    if eso is None:
        return
    base: Loc = ("kubernetes", "external_secrets")
    engines = {e.path: e for e in spec.vault.secrets_engines}
    stores: dict[str, Store] = {}
    for i, store in enumerate(eso.stores):
        loc: Loc = (*base, "stores", i)
        if store.name in stores:
            yield doc.problem((*loc, "name"), f"store {store.name!r} is declared twice")
        stores.setdefault(store.name, store)
        if store.kind == "SecretStore" and store.namespace is None:
            yield doc.problem(loc, "a SecretStore is namespaced: set its namespace")
        if store.kind == "ClusterSecretStore" and store.namespace is not None:
            yield doc.problem(
                (*loc, "namespace"), "a ClusterSecretStore is cluster-scoped: remove the namespace"
            )
        engine = engines.get(store.path)
        if engine is None and store.path in _written(doc, ("vault", "secrets_engines"), "path"):
            pass  # that engine was rejected: its own problem says why
        elif engine is None:
            yield doc.problem(
                (*loc, "path"),
                f"no KV engine is mounted at {store.path!r} "
                f"(vault.secrets_engines){_suggest(store.path, set(engines))}",
            )
        elif engine.version != store.kv_version:
            yield doc.problem(
                (*loc, "kv_version"),
                f"the KV engine at {store.path!r} is "
                f"version {engine.version}, not {store.kv_version}",
            )
        found = _role(spec, doc, store.role, (*loc, "role"))
        if isinstance(found, Problem):
            yield found
        # A SecretStore's login namespace is not known until it has one.
        elif found is not None and not (store.kind == "SecretStore" and store.namespace is None):
            account, ns = store_identity(eso, store)
            wrong = _binds(store.role, found, account, ns, "store's")
            if wrong:
                yield doc.problem((*loc, "role"), wrong)

    seen: set[tuple[str, str]] = set()
    for j, secret in enumerate(eso.secrets):
        loc = (*base, "secrets", j)
        if (secret.namespace, secret.name) in seen:
            yield doc.problem(
                (*loc, "name"), f"ExternalSecret {secret.namespace}/{secret.name} is declared twice"
            )
        seen.add((secret.namespace, secret.name))
        if not secret.data and not secret.data_from:
            yield doc.problem(loc, "an ExternalSecret needs data or data_from")
        used = stores.get(secret.store)
        if used is None and secret.store in _written(doc, (*base, "stores"), "name"):
            pass  # that store was rejected: its own problem says why
        elif used is None:
            yield doc.problem(
                (*loc, "store"),
                f"unknown store {secret.store!r}{_suggest(secret.store, set(stores))}",
            )
        elif (
            used.kind == "SecretStore"
            and used.namespace is not None
            and used.namespace != secret.namespace
        ):
            yield doc.problem(
                (*loc, "store"),
                f"SecretStore {used.name!r} is in namespace "
                f"{used.namespace!r}; an ExternalSecret in {secret.namespace!r} "
                "cannot use it",
            )


def _monitoring(spec: Spec, doc: Document) -> Iterator[Problem]:
    if spec.monitoring is None or spec.monitoring.prometheus is None:
        return
    prom = spec.monitoring.prometheus
    loc: Loc = ("monitoring", "prometheus", "role")
    found = _role(spec, doc, prom.role, loc)
    if isinstance(found, Problem):
        yield found
    elif found is not None:
        wrong = _binds(prom.role, found, prom.service_account, prom.namespace, "Prometheus")
        if wrong:
            yield doc.problem(loc, wrong)
