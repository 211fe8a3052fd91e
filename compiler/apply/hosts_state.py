"""What a node has now (one remote script), and the files apply copies from this machine."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ChecksumError, HostError, InputFileError
from ..layout import Layout
from ..spec import Node, Vault
from ..spec.vault import Install
from .hosts_plan import ORIGIN, PENDING, RECORD, STAT_CACHE, DesiredFile, NodeState, Stat
from .ssh import Session, quote

DOWNLOAD_TIMEOUT = 300.0  # seconds for the release archive
_RECORD_MARK = "--picluster-record--"
_PENDING_MARK = "--picluster-pending--"

# One round trip: hash and stat the files asked about and those picluster wrote before (from
# the record), stat the directories, list the owners asked about, then print the record and the
# service steps an earlier apply left pending.
_STATE = """set -u
R={root}
C="$R{cache}"
row() {{ s=$(stat -c '%a %u %g' "$R$2") && echo "$1 $3 $s $2"; }}
hash() {{
  if [ -f "$C" ]; then
    s=$(stat -c '%i %s %.9Y %.9Z' "$R$1") || return 1
    h=$(awk -v s="$s" -v p="$1" '$6 == p && $1" "$2" "$3" "$4 == s {{ print $5; exit }}' "$C")
    if [ -n "$h" ]; then echo "$h"; return 0; fi
  fi
  h=$(sha256sum < "$R$1") && echo "${{h%% *}}"
}}
file() {{ [ -f "$R$1" ] && h=$(hash "$1") && row F "$1" "$h"; }}
for p in {files}; do file "$p"; done
if [ -f "$R{record}" ]; then
  while read -r h p; do case "$p" in /*) file "$p" ;; esac; done < "$R{record}"
fi
for p in {dirs}; do [ -d "$R$p" ] && row D "$p" -; done
for n in {names}; do
  [ -r "$R/etc/passwd" ] && awk -F: -v n="$n" '$1 == n {{ print "U", $1, $3 }}' "$R/etc/passwd"
  [ -r "$R/etc/group" ] && awk -F: -v n="$n" '$1 == n {{ print "G", $1, $3 }}' "$R/etc/group"
done
echo {mark}
if [ -f "$R{record}" ]; then cat "$R{record}"; fi
echo {pending_mark}
if [ -f "$R{pending}" ]; then cat "$R{pending}"; fi
exit 0
"""


def root_prefix(root: str | None, node: str) -> str:
    """The directory standing for ``/`` on ``node`` (``{node}`` replaced), empty for ``/``."""
    if not root:
        return ""
    return root.replace("{node}", node).rstrip("/")


def read_state(
    session: Session, root: str, files: list[str], dirs: list[str], names: list[str]
) -> NodeState:
    """The node's hashes, modes and owners of ``files`` and ``dirs``, and the ids of ``names``.

    Args:
        session: the node's SSH session.
        root: the directory standing for ``/`` (empty: ``/`` itself).
        files: absolute paths on the node to hash.
        dirs: directories to stat.
        names: user and group names to look up (in ``<root>/etc/passwd`` and ``group``).
    """
    script = _STATE.format(
        root=quote(root),
        files=" ".join(quote(f) for f in files) or "''",
        dirs=" ".join(quote(d) for d in dirs) or "''",
        names=" ".join(quote(n) for n in names) or "''",
        record=RECORD,
        cache=STAT_CACHE,
        mark=_RECORD_MARK,
        pending=PENDING,
        pending_mark=_PENDING_MARK,
    )
    return parse_state(session.run(script, what="reading the node's state"))


def parse_state(text: str) -> NodeState:
    """Parse the state script's output (pure, for tests)."""
    state = NodeState()
    head, _, rest = text.partition(_RECORD_MARK + "\n")
    record, _, pending = rest.partition(_PENDING_MARK + "\n")
    state.pending.extend(line for line in pending.splitlines() if line.strip())
    for line in head.splitlines():
        fields = line.split(" ", 5)
        if fields[0] in ("F", "D") and len(fields) == 6:
            stat = Stat(fields[1], int(fields[2], 8), int(fields[3]), int(fields[4]))
            (state.files if fields[0] == "F" else state.dirs)[fields[5]] = stat
        elif fields[0] == "U" and len(fields) == 3:
            state.users[fields[1]] = int(fields[2])
        elif fields[0] == "G" and len(fields) == 3:
            state.groups[fields[1]] = int(fields[2])
    for line in record.splitlines():
        digest, _, path = line.partition("  ")
        if path:
            state.record[path] = digest
    return state


def record_text(record: dict[str, str]) -> bytes:
    """The record as ``sha256sum`` lines (the state script reads it back with ``read``)."""
    return "".join(f"{h}  {p}\n" for p, h in sorted(record.items())).encode()


@dataclass(frozen=True)
class LocalFile:
    """A file apply copies from this machine: its place on the node, and its bytes."""

    file: DesiredFile
    data: bytes


def tls_files(vault: Vault, node: Node, lay: Layout, base_dir: Path) -> list[LocalFile]:
    """The CA, certificate and key ``vault.tls.local`` names, for ``node``.

    The key is read here, in memory, and only ever sent to the node: never to ``out/``, never
    printed (the plan shows its path and hash).

    Raises:
        InputFileError: a named file is missing.
    """
    local = vault.tls.local
    if local is None or local.cert is None or local.key is None:
        return []
    wanted = [
        ("ca_cert", local.ca_cert, lay.ca_cert, 0o644, "root"),
        ("cert", local.cert, lay.cert, 0o644, "root"),
        # The server reads its key as the service user; nobody else may.
        ("key", local.key, lay.key, 0o600, lay.user),
    ]
    found = []
    for name, pattern, dest, mode, owner in wanted:
        path = base_dir / pattern.replace("{node}", node.name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputFileError(f"vault.tls.local.{name}: {path}: {exc.strerror or exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        source = f"vault.tls.local.{name}"
        found.append(LocalFile(DesiredFile(dest, digest, mode, owner, owner, "tls", source), data))
    return found


def keys_files(vault: Vault, lay: Layout, base_dir: Path) -> list[LocalFile]:
    """The unseal keys file ``vault.unseal.local`` names, for every node alike (root, 0600).

    Read in memory and only ever sent to the nodes, as the TLS key is. None until it exists:
    ``picluster init`` makes it, after the first apply has started the servers.
    """
    local = vault.unseal.local
    if local is None:
        return []
    path = base_dir / local.keys_file
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InputFileError(
            f"vault.unseal.local.keys_file: {path}: {exc.strerror or exc}"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    source = "vault.unseal.local.keys_file"
    desired = DesiredFile(lay.keys_file, digest, 0o600, "root", "root", "unseal-keys", source)
    return [LocalFile(desired, data)]


def keys_note(vault: Vault, base_dir: Path) -> str | None:
    """What the plan says while the local keys file does not exist yet."""
    local = vault.unseal.local
    if local is None or (base_dir / local.keys_file).exists():
        return None
    return (
        f"vault.unseal.local.keys_file: {local.keys_file} does not exist yet, so no unseal keys "
        "are installed; `picluster init --keys-file` makes it, the next apply installs it"
    )


class Binary:
    """The server binary the spec pins: fetched at most once, only when some node needs it."""

    def __init__(self, vault: Vault, install: Install, lay: Layout, base_dir: Path) -> None:
        self.install = install
        self.source = self.install.source.replace("{version}", vault.version).replace(
            "{arch}", vault.arch
        )
        self.path = lay.binary
        self.name = lay.dist.binary_name
        self.base_dir = base_dir
        self._lock = threading.Lock()
        self._data: bytes | None = None

    def desired(self, state: NodeState) -> DesiredFile:
        """The binary as a desired file of a node whose record is ``state.record``.

        A node that already runs the binary taken from this very archive needs no download.
        """
        pinned = self.install.sha256
        installed = state.record.get(self.path)
        if state.record.get(ORIGIN) == pinned and installed:
            digest = installed
        else:
            digest = hashlib.sha256(self.data()).hexdigest()
        return DesiredFile(
            self.path, digest, 0o755, "root", "root", "binary", "vault.install", origin=pinned
        )

    def data(self) -> bytes:
        """The binary's bytes, checked against the pinned SHA-256.

        Raises:
            ChecksumError: the archive is not the pinned one; nothing is installed anywhere.
            HostError: it could not be fetched.
        """
        with self._lock:
            if self._data is None:
                archive = self._fetch()
                digest = hashlib.sha256(archive).hexdigest()
                if digest != self.install.sha256:
                    raise ChecksumError(
                        f"vault.install: {self.source}: sha256 is {digest}, the spec pins "
                        f"{self.install.sha256}; nothing installed"
                    )
                self._data = self._extract(archive)
            return self._data

    def _fetch(self) -> bytes:
        if not self.source.startswith("https://"):
            try:
                return (self.base_dir / self.source).read_bytes()
            except OSError as exc:
                raise InputFileError(
                    f"vault.install.source: {self.source}: {exc.strerror or exc}"
                ) from None
        import urllib.request

        try:
            with urllib.request.urlopen(self.source, timeout=DOWNLOAD_TIMEOUT) as answer:  # noqa: S310 -- https only, checked above
                data: bytes = answer.read()
                return data
        except OSError as exc:
            why = _download_failure(exc)
            raise HostError(f"vault.install: {self.source}: download failed ({why})") from None

    def _extract(self, archive: bytes) -> bytes:
        """The binary out of a release .zip or .tar.gz, or the file itself."""
        if archive[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(archive)) as zf:
                for info in zf.infolist():
                    if info.filename.rsplit("/", 1)[-1] == self.name:
                        return zf.read(info)
        elif archive[:2] == b"\x1f\x8b":
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tf:
                for member in tf.getmembers():
                    if member.isfile() and member.name.rsplit("/", 1)[-1] == self.name:
                        handle = tf.extractfile(member)
                        if handle is not None:
                            return handle.read()
        else:
            return archive
        raise HostError(f"vault.install: {self.source}: holds no file named {self.name}")


def _download_failure(exc: OSError) -> str:
    """Why a download failed, in a few words: the HTTP status, the TLS problem, the socket's."""
    import ssl
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        exc.close()  # it holds the response's socket
        return f"HTTP {exc.code} {exc.reason}"
    reason: object = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate not trusted: {reason.verify_message}; "
            "if a private CA signs it, set SSL_CERT_FILE to a bundle that holds that CA"
        )
    if isinstance(reason, OSError):
        return reason.strerror or str(reason) or type(reason).__name__
    return str(reason)
