"""One test per mistake of the hand-written procedure picluster replaces, in what it produces.

The procedure (installing Vault on a Pi by hand, then ESO and the injector) typed ``mkidr``,
chowned without sudo, used three names for one certificate, left paths unquoted in HCL and raft
without node_id/retry_join, left ``{{ vault_bin_path }}`` unrendered, used the obsolete
``Capabilities=``, logged the unseal script to a file named ``info``, read ``.keys[]`` where
init writes ``unseal_keys_b64``, looped forever without a timeout, skipped TLS verification,
read a keys file holding the root token as the vault user, wrote a policy under one name and
loaded it under another, and sent deprecated Kubernetes auth parameters. Each test reads the
compiled reference spec (and, where it matters, the three-node example) and asserts the
corrected form. Expected paths come from picluster.yaml as a user wrote it, never from the
compiler's own layout code. (The Kubernetes side's corrections — no namespace on cluster-scoped
objects, ``external-secrets.io/v1``, a mounted CA instead of ``tls-skip-verify`` — are in
``tests/test_kubernetes.py``.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from compiler.apply.vault_desired import desired
from compiler.apply.vault_model import Current
from compiler.apply.vault_plan import plan
from compiler.check import load
from compiler.pipeline import Build, build
from tests.support import REFERENCE, ROOT

HA = ROOT / "examples" / "openbao-ha" / "picluster.yaml"

# From picluster.yaml, as written there.
CA = "/etc/vault/tls/vault-ca.crt"
CERT = "/etc/vault/tls/vault.crt"
KEY = "/etc/vault/tls/vault.key"
KEYS_FILE = "/etc/vault/unseal.json"
DATA_DIR = "/var/lib/vault"
NODE = "hosts/node1"


@pytest.fixture(scope="module")
def ref() -> dict[str, str]:
    return {a.path: a.text for a in build(REFERENCE).artifacts}


@pytest.fixture(scope="module")
def ha() -> Build:
    return build(HA)


def texts(files: dict[str, str]) -> str:
    return "\n".join(files.values())


def test_step3_no_typed_mkdir_directories_are_declared(ref: dict[str, str]) -> None:
    assert not re.search(r"\bmk(dir|idr)\b", texts(ref))
    tmpfiles = ref[f"{NODE}/etc/tmpfiles.d/vault.conf"]
    declared = {
        line.split()[1]: line.split()[2:5]
        for line in tmpfiles.splitlines()
        if line.startswith("d ")
    }
    for directory in (
        "/etc/vault",
        "/etc/vault/tls",
        "/etc/vault/policy",
        "/etc/vault/plugin",
        DATA_DIR,
        "/var/log/vault",
    ):
        assert declared[directory] == ["0750", "vault", "vault"], directory


def test_step3_ownership_and_modes_come_from_one_declaration(ref: dict[str, str]) -> None:
    assert not re.search(r"\bch(own|mod)\b", texts(ref))
    sysusers = ref[f"{NODE}/etc/sysusers.d/vault.conf"]
    assert re.search(r"^u vault - ", sysusers, re.M)
    files = json.loads(ref["manifest.json"])["files"]
    config = files[f"{NODE}/etc/vault/vault_main.hcl"]
    assert (config["owner"], config["group"], config["mode"]) == ("vault", "vault", "0640")
    assert files[f"{NODE}/usr/local/bin/vault-unseal.sh"]["mode"] == "0755"


def test_step6_one_set_of_certificate_file_names(ref: dict[str, str]) -> None:
    everything = texts(ref)
    for stray in ("public.crt", "public.csr", "private.key", "rootCA"):
        assert stray not in everything
    config = ref[f"{NODE}/etc/vault/vault_main.hcl"]
    assert f'tls_cert_file            = "{CERT}"' in config
    assert f'tls_key_file             = "{KEY}"' in config
    openssl = ref["pki/node1/openssl.conf"]
    assert f"install it as {CERT}, the key as {KEY} and the CA as {CA}" in openssl


def test_step7_paths_agree_with_the_declared_directories(ref: dict[str, str]) -> None:
    config = ref[f"{NODE}/etc/vault/vault_main.hcl"]
    assert "/etc/vault/tl/" not in config
    tmpfiles = ref[f"{NODE}/etc/tmpfiles.d/vault.conf"]
    declared = {line.split()[1] for line in tmpfiles.splitlines() if line.startswith("d ")}
    for path in re.findall(r'"(/[^"]+)"', config):
        parent = path if path == DATA_DIR or path.endswith("/plugin") else path.rsplit("/", 1)[0]
        assert parent in declared, path


def test_step7_every_hcl_value_is_quoted_or_literal(ref: dict[str, str]) -> None:
    config = ref[f"{NODE}/etc/vault/vault_main.hcl"]
    assert f'path    = "{DATA_DIR}"' in config
    for line in config.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            value = line.split("=", 1)[1].strip()
            assert re.fullmatch(r'"[^"]*"|true|false|[0-9]+', value), line


def test_step7_raft_has_stable_node_ids_and_retry_join(ref: dict[str, str], ha: Build) -> None:
    assert 'node_id = "node1"' in ref[f"{NODE}/etc/vault/vault_main.hcl"]
    assert "retry_join" not in ref[f"{NODE}/etc/vault/vault_main.hcl"]  # one node: nothing to join
    configs = {a.path.split("/")[1]: a.text for a in ha.artifacts if a.kind == "hcl-config"}
    assert sorted(configs) == ["bao1", "bao2", "bao3"]
    for node, text in configs.items():
        assert f'node_id = "{node}"' in text
        joined = re.findall(r'leader_api_addr\s*=\s*"https://([a-z0-9]+)\.homelab', text)
        assert sorted(joined) == sorted(set(configs) - {node})
        assert text.count('leader_ca_cert_file = "/etc/openbao/tls/openbao-ca.crt"') == 2


def test_step8_no_unrendered_template_text(ref: dict[str, str], ha: Build) -> None:
    for path, text in [*ref.items(), *((a.path, a.text) for a in ha.artifacts)]:
        assert "{{" not in text, path
        assert "{%" not in text, path
        assert "vault_bin_path" not in text, path


def test_step8_no_obsolete_capabilities_directive(ref: dict[str, str]) -> None:
    unit = ref[f"{NODE}/etc/systemd/system/vault.service"]
    assert not re.search(r"^Capabilities=", unit, re.M)
    assert not re.search(r"^StartLimitInterval=", unit, re.M)


def test_step8_one_binary_path(ref: dict[str, str]) -> None:
    unit = ref[f"{NODE}/etc/systemd/system/vault.service"]
    assert "ExecStart=/usr/local/bin/vault server -config=/etc/vault/vault_main.hcl" in unit
    assert "/usr/local/vault " not in texts(ref)
    assert "/bin/sh -c" not in unit


def test_unseal_script_logs_to_the_journal_not_a_file(ref: dict[str, str]) -> None:
    script = ref[f"{NODE}/usr/local/bin/vault-unseal.sh"]
    assert "tee" not in script
    assert not re.search(r"^\s*LOG=", script, re.M)
    assert ">&2" in script


def test_unseal_script_reads_the_format_init_writes(ref: dict[str, str]) -> None:
    script = ref[f"{NODE}/usr/local/bin/vault-unseal.sh"]
    assert ".keys[]" not in script
    assert "{key: .unseal_keys_b64[$i]}" in script
    assert f"KEYS_FILE={KEYS_FILE}" in script


def test_unseal_is_bounded_and_fails_loudly(ref: dict[str, str]) -> None:
    script = ref[f"{NODE}/usr/local/bin/vault-unseal.sh"]
    assert "while true" not in script
    assert "ATTEMPTS=10" in script  # unseal.attempts in picluster.yaml
    assert re.search(r"^exit 1$", script, re.M)
    unit = ref[f"{NODE}/etc/systemd/system/vault-unseal.service"]
    timeout = re.search(r"^TimeoutStartSec=([0-9]+)$", unit, re.M)
    assert timeout is not None
    # 10 attempts, each a 5 s sleep plus at most three 5 s requests (status, one key, status).
    assert int(timeout.group(1)) >= 10 * (5 + 3 * 5)


def test_unseal_verifies_tls_against_the_ca(ref: dict[str, str]) -> None:
    script = ref[f"{NODE}/usr/local/bin/vault-unseal.sh"]
    assert "SKIP_TLS_VERIFY" not in script
    assert not re.search(r"curl[^\n]*\s-(k|sk|ks)\b|--insecure", script)
    assert f"CA_CERT={CA}" in script
    assert '--cacert "$CA_CERT"' in script


def test_unseal_service_does_not_run_as_the_vault_user(ref: dict[str, str]) -> None:
    unit = ref[f"{NODE}/etc/systemd/system/vault-unseal.service"]
    assert "User=vault" not in unit
    assert f"LoadCredential=unseal-keys:{KEYS_FILE}" in unit
    assert "weaken" in unit or "whoever has the disk has the data" in unit
    # The keys file is never generated: it holds secrets, written by `picluster init` only.
    assert not any(path.endswith(KEYS_FILE) for path in ref)


def test_policy_files_are_named_after_their_policy(ref: dict[str, str]) -> None:
    policies = sorted(Path(p).name for p in ref if "/policy/" in p)
    assert policies == ["prometheus-monitoring.hcl", "readonly.hcl", "readwrite.hcl"]
    assert "secrets-write" not in texts(ref)


def test_one_name_for_the_ca(ref: dict[str, str], ha: Build) -> None:
    everything = texts(ref)
    for stray in ("vault_ca.pem", "rootCA.crt"):
        assert stray not in everything
    assert f"CA_CERT={CA}" in ref[f"{NODE}/usr/local/bin/vault-unseal.sh"]
    assert f"CA as {CA}" in ref["pki/node1/openssl.conf"]


def test_k8s_auth_config_sends_no_deprecated_parameter(tmp_path: Path) -> None:
    """The config is written over the API with the fields of Vault's API documentation
    (auth/kubernetes/config) that are not deprecated: no ``issuer``, no
    ``disable_iss_validation`` (deprecated since Vault 1.9)."""
    loaded = load(REFERENCE)
    steps = plan(desired(loaded.model, "a.b.c", loaded.doc), Current()).steps
    (config,) = [s for s in steps if s.path == "auth/kubernetes/config"]
    assert config.body is not None
    assert sorted(config.body) == [
        "disable_local_ca_jwt",
        "kubernetes_ca_cert",
        "kubernetes_host",
        "pem_keys",
        "token_reviewer_jwt",
    ]
