"""Every bad spec in tests/bad_specs/ ends in exactly the lines a user should read, and no more.

Each case runs the real CLI (``compile SPEC -o out``) in an empty directory and must: exit 2;
print on stderr one ``FILE:LINE:COL: dotted.path: message`` line per problem, every problem of
the run, exactly as listed in ``EXPECTED``; print no traceback; and write nothing (``out`` is not
created). The expected lines were written for a reader, not copied from the program: LINE:COL is
the offending key (unknown key, bad mapping key), the offending value (bad value), or the mapping
that lacks a required key. Problems found before the spec is parsed (bad YAML, bad encoding) have
no dotted path, as nothing has been read yet.

To add a case: drop ``NN-short-name.yaml`` in tests/bad_specs/ and its lines here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from compiler.cli import main
from compiler.yamlio import MAX_BYTES, MAX_DEPTH, MAX_NODES
from tests.support import ROOT

BAD_SPECS = ROOT / "tests" / "bad_specs"
SPECS = sorted(BAD_SPECS.glob("*.yaml"))

CAPABILITIES = "create, read, update, patch, delete, list, sudo, deny, subscribe, scan"
PATH_CHARS = "a path may hold only letters, digits and . _ @ + - between slashes"
ESO_NS = "role 'external-secrets' does not bind the store's namespace 'external-secrets'"
DNS_LABEL = "a DNS-1123 label (a-z, 0-9, '-'; at most 63)"
# Every key `vault:` takes, in the order the unknown-key message lists them.
VAULT_KEYS = (
    "distribution, version, arch, user, api_port, cluster_port, listen_address, log_level, "
    "paths, nodes, tls, storage, telemetry, unseal, secrets_engines, policies, kubernetes_auth, "
    "api, install"
)
BOMB = f"the aliases here expand to more than {MAX_NODES} values (an alias bomb?)"

# Case name (file stem) -> the stderr lines, without the leading "FILE:".
EXPECTED: dict[str, list[str]] = {
    "01-syntax-unclosed-flow": [
        "8:9: expected ',' or '}', but got ':' "
        "(in a flow mapping that starts at line 7, column 12)",
    ],
    "02-duplicate-key": [
        '8:7: duplicate key "address" with value "10.0.0.12" (original value: "10.0.0.11")',
    ],
    "03-empty-file": ["1:1: the file is empty; expected a mapping"],
    "04-top-level-list": ["2:1: expected a mapping at the top level, found a list"],
    "05-top-level-scalar": ["2:1: expected a mapping at the top level, found 'vault'"],
    "06-alias-bomb": [f"7:4: f: {BOMB}"],
    "07-python-tag": [
        "6:16: vault.nodes[0].address: "
        "the YAML tag !!python/object/apply:os.system is not allowed; remove it",
    ],
    "08-unknown-key-typo": [
        "6:7: vault.nodes[0].adress: unknown key 'adress'; did you mean 'address'?",
    ],
    "09-unknown-key-no-match": [
        "10:5: vault.unseal.auto_unseal_with_kms: unknown key 'auto_unseal_with_kms'; "
        "expected one of: key_shares, key_threshold, keys_file, service, attempts, "
        "retry_interval, local",
    ],
    "10-port-not-a-number": ["4:13: vault.api_port: expected a whole number, got '8200/tcp'"],
    "11-nodes-mapping-not-list": [
        "5:5: vault.nodes: expected a list (items start with '- '), got a mapping",
    ],
    "12-bad-ip": [
        "6:16: vault.nodes[0].address: '10.0.0.11.5' is not a valid IPv4 or IPv6 address",
    ],
    "13-bad-dns-name": [
        "7:12: vault.nodes[0].dns: 'vault_1.homelab.example.com' is not a valid DNS name "
        "(letters, digits and '-' between dots)",
    ],
    "14-duplicate-node-name": [
        "7:14: vault.nodes[2].name: name 'node1' is already used by vault.nodes[0]",
    ],
    "15-duplicate-node-dns": [
        "10:12: vault.nodes[1].dns: "
        "DNS name 'node1.homelab.example.com' is already used by vault.nodes[0]",
    ],
    "16-unknown-capability": [
        f"8:54: vault.policies.readwrite[0].capabilities[1]: 'write' is not one of: {CAPABILITIES}",
    ],
    "17-role-unknown-policy": [
        "15:29: vault.kubernetes_auth.roles.external-secrets.policies[1]: "
        "unknown policy 'read-only'; did you mean 'readonly'?",
    ],
    "18-threshold-above-shares": [
        "8:20: vault.unseal.key_threshold: key_threshold (5) is above key_shares (3)",
    ],
    "19-shares-with-threshold-one": [
        "8:20: vault.unseal.key_threshold: "
        "with more than one key share the threshold must be at least 2",
    ],
    "20-bad-duration": [
        "7:32: vault.telemetry.prometheus_retention_time: "
        "'12 hours' is not a duration such as 90s, 15m or 12h",
    ],
    "21-relative-tls-path": ["7:11: vault.tls.cert: 'vault.crt' is not an absolute path"],
    "22-path-with-space": [f"8:13: vault.storage.raft.path: '/var/lib/vault data': {PATH_CHARS}"],
    "23-path-with-dollar": [
        f"7:16: vault.unseal.keys_file: '/home/$USER/unseal.json': {PATH_CHARS}",
    ],
    "24-path-with-dotdot": [
        "7:17: vault.paths.config_dir: "
        "'/etc/vault/../shadow' must not contain '.' or '..' components",
    ],
    "25-missing-version": ["3:3: vault.version: missing required key 'version'"],
    "26-missing-nodes": ["3:3: vault.nodes: missing required key 'nodes'"],
    "27-empty-nodes": ["4:10: vault.nodes: must not be empty"],
    "28-port-out-of-range": [
        "7:29: vault.nodes[0].ssh.port: 65536 is too large; the maximum is 65535",
    ],
    "29-bad-distribution": [
        "3:17: vault.distribution: 'hashicorp' is not one of: vault, openbao",
    ],
    "30-policy-named-root": [
        "7:5: vault.policies.root: 'root' is a built-in policy and cannot be redefined",
    ],
    "31-reserved-mount-sys": [
        "8:14: vault.secrets_engines[1].path: mount path 'sys' is reserved by the server",
    ],
    "32-duplicate-mount-path": [
        "9:13: vault.secrets_engines[1].path: "
        "mount path 'secret' is already used by vault.secrets_engines[0]",
    ],
    "33-deny-with-other-capabilities": [
        "8:53: vault.policies.locked[0].capabilities: "
        "'deny' overrides every other capability; list it alone",
    ],
    "34-policy-path-newline": [
        "8:15: vault.policies.readonly[0].path: "
        "'secret/data/*\"\\npath \"sys/*' is not an API path pattern (no control characters)",
    ],
    "35-uppercase-node-name": [
        "5:13: vault.nodes[0].name: 'Node1' is not a DNS-1123 label (a-z, 0-9, '-'; at most 63)",
    ],
    "36-unquoted-date-version": [
        "3:12: vault.version: a YAML date is not allowed here; quote it to make it a string",
    ],
    "37-not-utf8": ["7:39: byte 0xe1 is not UTF-8 text; save the file as UTF-8"],
    "38-many-problems": [
        "5:13: vault.api_port: 82000 is too large; the maximum is 65535",
        "8:16: vault.nodes[0].address: '10.0.0.300' is not a valid IPv4 or IPv6 address",
        "10:7: vault.nodes[0].adress: unknown key 'adress'; did you mean 'address'?",
        "12:11: vault.tls.cert: 'vault.crt' is not an absolute path",
        "14:32: vault.telemetry.prometheus_retention_time: "
        "'12 hours' is not a duration such as 90s, 15m or 12h",
        "17:49: vault.policies.readwrite[0].capabilities[1]: "
        f"'write' is not one of: {CAPABILITIES}",
    ],
    "39-port-quoted-number": [
        "4:17: vault.cluster_port: expected a whole number, got the string '8201'; "
        "remove the quotes",
    ],
    "40-many-cross-reference-problems": [
        "6:30: vault.nodes[1].address: "
        "address 10.0.0.11 with api port 8200 is already used by vault.nodes[0]",
        "7:14: vault.nodes[2].name: name 'node2' is already used by vault.nodes[1]",
        "10:20: vault.unseal.key_threshold: key_threshold (4) is above key_shares (3)",
        "13:14: vault.secrets_engines[1].path: "
        "mount path 'auth/kv' is under 'auth', which the server reserves",
        "15:5: vault.policies.root: 'root' is a built-in policy and cannot be redefined",
        "18:47: vault.policies.readonly[0].capabilities: "
        "'deny' overrides every other capability; list it alone",
        "25:20: vault.kubernetes_auth.roles.apps.policies[0]: "
        "unknown policy 'readonyl'; did you mean 'readonly'?",
    ],
    "41-tab-indent": ["5:1: a tab cannot indent YAML; use spaces"],
    "42-empty-section": ["6:3: vault.unseal: expected a mapping, got an empty value"],
    "43-nodes-as-names": [
        "4:11: vault.nodes[0]: expected a mapping, got 'node1'",
        "4:18: vault.nodes[1]: expected a mapping, got 'node2'",
    ],
    # A merged value is located where its text is: in the anchored mapping it came from.
    "44-merge-key-forgot-override": [
        "7:16: vault.nodes[1].address: "
        "address 10.0.0.11 with api port 8200 is already used by vault.nodes[0]",
    ],
    "45-two-documents": [
        "6:1: a second YAML document ('---') is not allowed; a spec is one document",
    ],
    "46-boolean-as-string": ["7:14: vault.unseal.service: expected true or false, got 'no'"],
    # The Kubernetes side, checked against the Vault side.
    "47-k8s-store-problems": [
        "19:11: kubernetes.gitops: gitops flux needs kubernetes.repository "
        "(where the compiled tree is committed)",
        "22:37: kubernetes.external_secrets.stores[0].path: no KV engine is mounted at "
        "'secrets' (vault.secrets_engines); did you mean 'secret'?",
        f"22:52: kubernetes.external_secrets.stores[0].role: {ESO_NS}",
        "23:47: kubernetes.external_secrets.stores[1].kv_version: the KV engine at 'secret' "
        "is version 2, not 1",
        "23:56: kubernetes.external_secrets.stores[1].role: unknown role 'external-secret'; "
        "did you mean 'external-secrets'?",
        # Which namespace it logs in from is unknown until it has one: no binding check.
        "24:9: kubernetes.external_secrets.stores[2]: a SecretStore is namespaced: "
        "set its namespace",
        "25:16: kubernetes.external_secrets.stores[3].name: store 'vault-backend' is "
        "declared twice",
        "25:42: kubernetes.external_secrets.stores[3].namespace: a ClusterSecretStore is "
        "cluster-scoped: remove the namespace",
        f"25:68: kubernetes.external_secrets.stores[3].role: {ESO_NS}",
        "27:44: kubernetes.external_secrets.secrets[0].store: unknown store 'vault-backnd'; "
        "did you mean 'vault-backend'?",
        "28:9: kubernetes.external_secrets.secrets[1]: an ExternalSecret needs data or data_from",
    ],
    # The exact deny on sys/metrics decides (it outranks every glob), so the fix is removing it.
    "48-k8s-prometheus-role": [
        "20:11: monitoring.prometheus.role: role 'prometheus' cannot read sys/metrics: denied "
        "by 'sys/metrics' in policy 'metrics-denied'; Prometheus could not scrape Vault; "
        "remove the deny on 'sys/metrics' from 'metrics-denied'",
        "20:11: monitoring.prometheus.role: role 'prometheus' does not bind the Prometheus "
        "service account 'kube-prometheus-stack-prometheus'",
    ],
    "49-k8s-missing-ca-file": ["8:16: vault.tls.local.ca_cert: pki/no-such-ca.crt: no such file"],
    "50-k8s-bad-names": [
        "7:11: kubernetes.gitops: 'argo' is not one of: flux, argocd, plain; "
        "did you mean 'argocd'?",
        f"9:16: kubernetes.vault_auth.namespace: 'Vault_NS' is not {DNS_LABEL}",
        "11:22: kubernetes.injector.chart.version: 'latest' is not a chart version such as 0.29.1",
        f"15:16: kubernetes.external_secrets.secrets[0].name: 'my_secret' is not {DNS_LABEL}",
        "15:64: kubernetes.external_secrets.secrets[0].data.bad key: 'bad key' is not a "
        "Secret data key (letters, digits, - _ .)",
    ],
    # Reported together: the rejected parts (an unknown key, a bad address, a bad capability, a
    # bad KV version), and the references between the parts that are valid; the second node is
    # gone, so the third is still called by its own index, and what a rejected part declares
    # (policy 'broken' keeps its name, store 'rejected' is valid without its kv_version) is
    # never called unknown. The misspelt 'adress' is read as 'address'.
    "52-structure-and-references": [
        "6:21: vault.nodes[0].adress: unknown key 'adress'; did you mean 'address'?",
        "7:30: vault.nodes[1].address: '10.0.0.300' is not a valid IPv4 or IPv6 address",
        "8:14: vault.nodes[2].name: name 'node1' is already used by vault.nodes[0]",
        f"13:48: vault.policies.broken[0].capabilities[0]: 'reed' is not one of: {CAPABILITIES}; "
        "did you mean 'read'?",
        "17:101: vault.kubernetes_auth.roles.eso.policies[2]: unknown policy 'missing'; "
        "defined: broken, default, readonly",
        "21:51: kubernetes.external_secrets.stores[0].role: role 'eso' does not bind the "
        "store's namespace 'external-secrets'",
        "22:46: kubernetes.external_secrets.stores[1].role: role 'eso' does not bind the "
        "store's namespace 'external-secrets'",
        "22:63: kubernetes.external_secrets.stores[1].kv_version: 3 is not one of: 1, 2",
        "24:46: kubernetes.external_secrets.secrets[0].store: unknown store 'vault-backnd'; "
        "did you mean 'vault-backend'?",
    ],
    # Read as 'address' and as 'kubernetes': a bad value inside is reported where it is
    # written, and so are the references from the misspelt section to the rest.
    "53-misspelt-sections-are-still-checked": [
        "7:21: vault.nodes[1].adress: unknown key 'adress'; did you mean 'address'?",
        "7:29: vault.nodes[1].adress: '10.0.0.300' is not a valid IPv4 or IPv6 address",
        "10:1: kubernets: unknown key 'kubernets'; did you mean 'kubernetes'?",
        "13:37: kubernets.external_secrets.stores[0].path: no KV engine is mounted at "
        "'secrets' (vault.secrets_engines); did you mean 'secret'?",
        "13:52: kubernets.external_secrets.stores[0].role: role 'eso' needs "
        "vault.kubernetes_auth, which is not declared",
        "13:63: kubernets.external_secrets.stores[0].kind: 'ClusterSecretStor' is not one of: "
        "ClusterSecretStore, SecretStore; did you mean 'ClusterSecretStore'?",
    ],
    "54-chart-value-typo": [
        "12:11: kubernetes.injector.chart.values.injector.replica: unknown key for chart "
        "'vault'; did you mean 'replicas'?",
        "13:18: kubernetes.injector.chart.values.global.externalVaultAdr: unknown key for "
        "chart 'vault'; did you mean 'externalVaultAddr'?",
    ],
    "55-openbao-kubernetes-auth-without-ca": [
        "8:5: vault.kubernetes_auth: OpenBao needs the cluster's CA certificate to check the "
        "Kubernetes API server: set ca_cert (k3s keeps it in "
        "/var/lib/rancher/k3s/server/tls/server-ca.crt)",
    ],
    "56-capability-the-server-lacks": [
        "8:63: vault.policies.events[0].capabilities[1]: OpenBao has no capability 'subscribe'; "
        "its policy parser refuses it",
    ],
    # What each ExternalSecret entry reads (ESO's KV v2 path: <mount>/data/<key>) is decided
    # for its store's role: app-0's entries pass, the others are refused at the entry, each
    # with the exact rule that would grant it.
    "57-access-role-cannot-read": [
        "24:79: kubernetes.external_secrets.secrets[1].data.password: role 'external-secrets' "
        "(store 'vault-backend') cannot read secret/data/app-1/db: no rule matches; grant "
        "'read' on 'secret/data/app-1/db' in policy 'app-0'",
        "25:84: kubernetes.external_secrets.secrets[2].data_from[1]: role 'external-secrets' "
        "(store 'vault-backend') cannot read secret/data/app-2/db: no rule matches; grant "
        "'read' on 'secret/data/app-2/db' in policy 'app-0'",
    ],
    # The classic missing data/, and a misspelt folder: each said for what it is.
    "58-access-kv2-rule-without-data": [
        "24:80: kubernetes.external_secrets.secrets[0].data.password: role 'external-secrets' "
        "(store 'vault-backend') cannot read kv/data/gitea/db: no rule matches; grant 'read' "
        "on 'kv/data/gitea/db' in policy 'apps' (the rule 'kv/gitea/*' has no data/: on a KV "
        "v2 mount the data is read under 'kv/data/')",
        "25:77: kubernetes.external_secrets.secrets[1].data_from[0]: role 'external-secrets' "
        "(store 'vault-backend') cannot read kv/data/immich/db: no rule matches; grant 'read' "
        "on 'kv/data/immich/db' in policy 'apps' (the rule 'kv/data/imich/*' is close: "
        "'imich' for 'immich'?)",
    ],
    "59-access-prometheus-audience": [
        "16:19: vault.kubernetes_auth.roles.prometheus.audience: role 'prometheus' wants "
        "audience 'vault', but Prometheus logs in with the pod's own service account token, "
        "whose audience is the API server's ('https://kubernetes.default.svc.cluster.local' "
        "or 'k3s' by default): Vault would refuse every login; remove the audience",
    ],
    # The spec's default replaces the server's: ESO's token could not revoke itself.
    "60-access-default-policy-rewritten": [
        "24:51: kubernetes.external_secrets.stores[0].role: role 'external-secrets' (store "
        "'vault-backend') cannot update auth/token/revoke-self: no rule matches (ESO revokes "
        "its token when done); grant 'update' on 'auth/token/revoke-self' in policy 'readonly'",
    ],
    "51-k8s-ca-is-a-key": [
        "8:16: vault.tls.local.ca_cert: 51-k8s-ca-is-a-key.pem: holds a private key; "
        "only the CA certificate may be named here",
    ],
    "61-number-out-of-range-and-name-unquoted": [
        "4:13: vault.api_port: 0 is too small; the minimum is 1",
        "6:14: vault.nodes[0].name: expected a string, got 5; put it in quotes",
    ],
    # One listener per port: the server cannot bind its cluster port where its API listens.
    "62-same-ports-and-capability-twice": [
        "5:7: vault.nodes[0]: api port and cluster port must differ",
        "8:47: vault.policies.readonly[0].capabilities: capability 'read' listed twice",
    ],
    "63-k8s-secret-references": [
        "9:28: vault.secrets_engines[1].version: 3 is not one of: 1, 2",
        "26:86: kubernetes.external_secrets.stores[2].kv_version: 5 is not one of: 1, 2",
        "29:16: kubernetes.external_secrets.secrets[1].name: ExternalSecret apps/db is declared "
        "twice",
        # ESO: a SecretStore serves only ExternalSecrets of its own namespace.
        "30:44: kubernetes.external_secrets.secrets[2].store: SecretStore 'team' is in "
        "namespace 'apps'; an ExternalSecret in 'web' cannot use it",
        "34:11: monitoring.prometheus.role: unknown role 'metrics'; defined: apps",
    ],
    "64-keys-and-values-yaml-reads-otherwise": [
        "4:12: vault.version: expected a string, got 1.2; put it in quotes",
        f"7:3: vault.null: unknown key 'null'; expected one of: {VAULT_KEYS}",
        f"8:3: vault.true: unknown key 'true'; expected one of: {VAULT_KEYS}",
    ],
    "65-ca-files-that-are-no-pem": [
        "9:16: vault.tls.local.ca_cert: 65-ca-files-that-are-no-pem.der: not a PEM text file",
        "12:14: vault.kubernetes_auth.ca_cert: 65-ca-files-that-are-no-pem.crt: holds a "
        "malformed PEM certificate",
    ],
    "66-ca-file-without-a-certificate": [
        "8:16: vault.tls.local.ca_cert: 66-ca-file-without-a-certificate.txt: holds no PEM "
        "certificate",
    ],
    "67-k8s-auth-rejected-once": [
        "10:11: vault.kubernetes_auth.host: expected a string, got 6443; put it in quotes",
    ],
    "68-k8s-role-rejected-once": [
        "12:93: vault.kubernetes_auth.roles.eso.policies: must not be empty",
    ],
    # Each rejected part is reported once, for itself: the policy 'apps' the role names, the
    # engine at "2024" the store 'archive' mounts, the store 'team' the ExternalSecret uses and
    # the repository gitops flux needs were declared, so none of them is called unknown.
    "80-rejected-parts-are-not-unknown": [
        "10:14: vault.secrets_engines[1].path: expected a string, got 2024; put it in quotes",
        "13:11: vault.policies.apps: expected a list (items start with '- '), got a mapping",
        "20:15: kubernetes.repository: expected a mapping, got "
        "'git@example.com:homelab/cluster.git'",
        "25:9: kubernetes.external_secrets.stores[2].role: missing required key 'role'",
        "26:9: kubernetes.external_secrets.stores[3].name: missing required key 'name'",
    ],
    "81-misspelt-section-unknown-store": [
        "14:1: kubernets: unknown key 'kubernets'; did you mean 'kubernetes'?",
        "19:46: kubernets.external_secrets.secrets[0].store: unknown store 'vault-backnd'; "
        "did you mean 'vault-backend'?",
    ],
    # Nothing is mounted, so there is nothing to suggest.
    "82-no-kv-engine-declared": [
        "15:37: kubernetes.external_secrets.stores[0].path: no KV engine is mounted at "
        "'secret' (vault.secrets_engines)",
    ],
    "83-duplicate-dns-after-a-node-without-one": [
        "7:46: vault.nodes[2].dns: "
        "DNS name 'vault.homelab.example.com' is already used by vault.nodes[1]",
    ],
    "84-two-shares-threshold-one": [
        "8:20: vault.unseal.key_threshold: "
        "with more than one key share the threshold must be at least 2",
    ],
    # 'scan' is OpenBao's (its recursive listing); Vault's policy parser knows no such
    # capability. The same path twice, written the same way: no note about a leading '/'.
    "85-vault-policy-problems": [
        "9:49: vault.policies.apps[0].capabilities[1]: HashiCorp Vault has no capability "
        "'scan'; its policy parser refuses it",
        "10:16: vault.policies.apps[1].path: duplicate rule for path 'secret/*'",
    ],
    "86-later-chart-value-typo": [
        "11:16: kubernetes.external_secrets.chart.values.replicas: unknown key for chart "
        "'external-secrets'; did you mean 'replicaCount'?",
    ],
    # Store 'lost' mounts nothing, so its entry is not decided; the entry after it is.
    "87-access-reads-after-an-unmounted-store": [
        "17:28: kubernetes.external_secrets.stores[0].path: no KV engine is mounted at 'kv' "
        "(vault.secrets_engines); defined: secret",
        "21:75: kubernetes.external_secrets.secrets[1].data.password: role 'eso' (store "
        "'vault-backend') cannot read secret/data/app-1/db: no rule matches; grant 'read' on "
        "'secret/data/app-1/db' in policy 'readonly'",
    ],
    "88-access-upkeep-said-once": [
        "24:51: kubernetes.external_secrets.stores[0].role: role 'external-secrets' (store "
        "'vault-backend') cannot update auth/token/revoke-self: no rule matches (ESO revokes "
        "its token when done); grant 'update' on 'auth/token/revoke-self' in policy 'readonly'",
    ],
    "89-access-audience-after-other-logins": [
        "21:19: vault.kubernetes_auth.roles.prometheus.audience: role 'prometheus' wants "
        "audience 'vault', but Prometheus logs in with the pod's own service account token, "
        "whose audience is the API server's ('https://kubernetes.default.svc.cluster.local' "
        "or 'k3s' by default): Vault would refuse every login; remove the audience",
    ],
    "90-misspelt-section-rejected-store": [
        "9:1: kubernets: unknown key 'kubernets'; did you mean 'kubernetes'?",
        "12:9: kubernets.external_secrets.stores[0].role: missing required key 'role'",
    ],
}


def run(directory: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """Run the CLI in ``directory``, as a user in that directory would."""
    monkeypatch.chdir(directory)
    return CliRunner().invoke(main, list(args))


def copy_case(spec: Path, directory: Path) -> list[str]:
    """Copy a case and the files it names (``<stem>.*`` beside it) into ``directory``."""
    files = [spec, *(p for p in spec.parent.glob(f"{spec.stem}.*") if p.suffix != ".yaml")]
    for path in files:
        shutil.copyfile(path, directory / path.name)
    return sorted(p.name for p in files)


def assert_rejected(result: Result, expected: list[str]) -> None:
    assert "Traceback" not in result.output
    assert (result.exit_code, result.stderr.splitlines()) == (2, expected)
    assert result.stdout == ""


def test_every_bad_spec_has_its_lines() -> None:
    assert [s.stem for s in SPECS] == sorted(EXPECTED)


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_compile_rejects_bad_spec(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied = copy_case(spec, tmp_path)
    result = run(tmp_path, monkeypatch, "compile", spec.name, "-o", "out")
    assert_rejected(result, [f"{spec.name}:{line}" for line in EXPECTED[spec.stem]])
    # Nothing written: no out/, and no file a tag could have made run (07 would touch PWNED).
    assert sorted(p.name for p in tmp_path.iterdir()) == copied


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_validate_reports_the_same_lines(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_case(spec, tmp_path)
    result = run(tmp_path, monkeypatch, "validate", spec.name)
    assert_rejected(result, [f"{spec.name}:{line}" for line in EXPECTED[spec.stem]])


def test_missing_spec_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(tmp_path, monkeypatch, "compile", "nowhere/picluster.yaml", "-o", "out")
    assert_rejected(result, ["nowhere/picluster.yaml: no such file"])
    assert not (tmp_path / "out").exists()


def test_a_directory_given_as_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "specs").mkdir()
    result = run(tmp_path, monkeypatch, "validate", "specs")
    assert_rejected(result, ["specs: is a directory, expected a spec file"])


def test_alias_bomb_is_cut_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 9**30 leaves: if aliases were expanded without a bound, this would never finish.
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 30)]
    lines += ['vault: {version: "1.18.3", nodes: *l29}']
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(tmp_path, monkeypatch, "compile", "bomb.yaml", "-o", "out")
    # l0..l4 expand to 74,732 values; the budget runs out inside l5, at its second alias.
    assert_rejected(result, [f"bomb.yaml:6:5: l5: {BOMB}"])
    assert not (tmp_path / "out").exists()


def test_tag_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "tagged.yaml"
    spec.write_text(
        'vault:\n  version: !!python/object/apply:os.system ["touch MARKER"]\n'
        "  nodes: [{name: node1, address: 10.0.0.11}]\n",
        encoding="utf-8",
    )
    result = run(tmp_path, monkeypatch, "compile", "tagged.yaml", "-o", "out")
    assert_rejected(
        result,
        [
            "tagged.yaml:2:12: vault.version: "
            "the YAML tag !!python/object/apply:os.system is not allowed; remove it"
        ],
    )
    assert not (tmp_path / "MARKER").exists()
    assert not (tmp_path / "out").exists()


# --- bounded input: whatever the file holds, one located line, in bounded time and memory ----


def _refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> list[str]:
    (tmp_path / "spec.yaml").write_text(text, encoding="utf-8")
    result = run(tmp_path, monkeypatch, "validate", "spec.yaml")
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    return result.stderr.splitlines()


@pytest.mark.parametrize("depth", [1_000, 100_000], ids=["1e3", "1e5"])
def test_deep_flow_nesting_is_refused_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    """1000 brackets overflowed Python's recursion; 100 000 crashed the C parser's composer."""
    lines = _refused(tmp_path, monkeypatch, "vault: " + "[" * depth + "\n")
    # The 64th bracket opens the 65th level: column 8 + 63.
    assert lines == [
        f"spec.yaml:1:71: vault[0][0][0][0][0][0][0]...: nested more than {MAX_DEPTH} levels deep"
    ]


def test_deep_block_nesting_is_refused_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _refused(tmp_path, monkeypatch, "vault:\n  x:\n  " + "- " * 100_000 + "a\n")
    # Each "- " opens a list, two columns on: the 64th under x starts at column 3 + 2 * 62.
    assert lines == [
        f"spec.yaml:3:127: vault.x[0][0][0][0][0][0]...: nested more than {MAX_DEPTH} levels deep"
    ]


def test_a_number_of_100000_digits_is_refused_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = 'vault:\n  version: "2.7.2"\n  api_port: ' + "9" * 100_000 + "\n"
    assert _refused(tmp_path, monkeypatch, text) == [
        "spec.yaml:3:13: vault.api_port: a number 100000 characters long is not allowed here; "
        "put it in quotes if it is text"
    ]


def test_an_alias_bomb_beside_a_duplicate_key_is_still_cut_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A duplicate key once sent the file to the loader that words errors, which expanded the
    bomb (past 1.1 GB) to print the duplicate's value. The bound comes first now."""
    lines = [
        "kubernetes:",
        '  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    lines += [f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, 30)]
    lines += ["  l0: again", 'vault: {version: "2.7.2", nodes: [{name: a, address: 10.0.0.1}]}']
    # As in test_alias_bomb_is_cut_short: the budget runs out inside l5 (line 7, column 7).
    assert _refused(tmp_path, monkeypatch, "\n".join(lines) + "\n") == [
        f"spec.yaml:7:7: kubernetes.l5: {BOMB}"
    ]


def test_a_file_past_the_size_limit_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "vault:\n  x: '" + "a" * (MAX_BYTES + 1) + "'\n"
    assert _refused(tmp_path, monkeypatch, text) == [
        "spec.yaml:1:1: the file is 8.0 MiB; a spec may be at most 8 MiB"
    ]
