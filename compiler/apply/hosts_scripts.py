"""The shell scripts apply runs on a node: commit a plan's files, and roll them back."""

from __future__ import annotations

from .hosts_plan import PENDING, RECORD, STAT_CACHE, DesiredFile, FileChange, NodePlan
from .ssh import quote

BACKUP = "/var/lib/picluster/rollback"
RECORD_STAGED = "record"

# Helpers of the commit script. Owners are looked up in <root>/etc/passwd and group, as
# systemd-sysusers --root writes them, so a staging root never depends on the host's users.
_HELPERS = """set -eu
R={root}
S={stage}
B="$R{backup}"
id_of() {{
  if [ "$2" = root ]; then echo 0; return 0; fi
  awk -F: -v n="$2" '$1 == n {{ print $3; f = 1 }} END {{ exit !f }}' "$R/etc/$1" \\
    || {{ echo "no $1 entry for $2" >&2; return 1; }}
}}
own() {{
  u=$(id_of passwd "$2")
  g=$(id_of group "$3")
  chown "$u:$g" "$1"
}}
put() {{
  d=$(dirname "$R$2")
  mkdir -p "$d"
  t="$d/.$(basename "$2").picluster-new"
  cp "$S/$1" "$t"
  own "$t" "$4" "$5"
  chmod "$3" "$t"
  mv -f "$t" "$R$2"
}}
cached() {{
  s=$(stat -c '%i %s %.9Y %.9Z' "$R$1") && echo "$s $2 $1" >> "$B/.stat"
}}
attrs() {{
  own "$R$1" "$3" "$4"
  chmod "$2" "$R$1"
}}
save() {{
  if [ -e "$R$1" ]; then
    mkdir -p "$B$(dirname "$1")"
    # A file that will be replaced by a rename keeps its inode: a hard link is its backup.
    if [ "$2" = link ]; then ln -f "$R$1" "$B$1" 2>/dev/null || cp -p "$R$1" "$B$1";
    else cp -p "$R$1" "$B$1"; fi
  else
    echo "$1" >> "$B/.created"
  fi
}}
rm -rf "$B"
mkdir -p "$B"
chmod 0700 "$B"
"""

_ROLLBACK = """set -u
R={root}
B="$R{backup}"
[ -d "$B" ] || exit 0
if [ -f "$B/.created" ]; then
  while read -r p; do rm -f "$R$p"; done < "$B/.created"
fi
cd "$B"
find . -type f ! -name .created | while read -r f; do
  p=${{f#.}}
  t="$(dirname "$R$p")/.$(basename "$p").picluster-new"
  mkdir -p "$(dirname "$R$p")"
  cp -p "$B$p" "$t" && mv -f "$t" "$R$p"
done
cd /
rm -rf "$B"
"""


def staged_name(index: int) -> str:
    """The name a transferred file has in the staging directory."""
    return f"f{index}"


def commit(plan: NodePlan, root: str, stage: str) -> str:
    """The script that makes ``plan`` true on the node, keeping what it replaces for a rollback.

    Order: the service steps the plan takes, as pending (before any file changes: an apply
    killed from here on leaves steps the next plan sees); sysusers/tmpfiles entries, then the
    user and directories they declare, then every other file (each a temp file in its own
    directory, owned and chmodded, then renamed over the old one), then removals, then the
    record of what picluster wrote.
    """
    lines = [_HELPERS.format(root=quote(root), stage=quote(stage), backup=BACKUP)]
    for change in plan.files:
        how = "copy" if change.action == "attrs" else "link"
        lines.append(f"save {quote(change.path)} {how}")
    if plan.record_changed:
        lines.append(f"save {RECORD} link")
    steps = plan.steps
    if steps or plan.pending:
        lines.append(f"save {PENDING} link")
        lines.append(_pending(steps))
    index = {c.path: i for i, c in enumerate(plan.transfers)}
    setup = [c for c in plan.transfers if c.file and c.file.role == "setup"]
    rest = [c for c in plan.files if c not in setup]
    lines += [_put(staged_name(index[c.path]), c) for c in setup]
    if plan.users:
        lines.append(f'systemd-sysusers --root="${{R:-/}}" "$R"{quote(plan.sysusers)} >&2')
    if plan.dirs:
        lines.append(f'systemd-tmpfiles --create --root="${{R:-/}}" "$R"{quote(plan.tmpfiles)} >&2')
    for c in rest:
        if c.action in ("create", "update"):
            lines.append(_put(staged_name(index[c.path]), c))
        elif c.action == "attrs" and c.file is not None:
            f = c.file
            lines.append(f"attrs {quote(c.path)} {f.mode:04o} {quote(f.owner)} {quote(f.group)}")
        elif c.action == "remove":
            lines.append(f'rm -f "$R"{quote(c.path)}')
    if plan.record_changed:
        lines.append(f"put {RECORD_STAGED} {RECORD} 0644 root root")
    if plan.transfers:
        lines.append(_STAT_CACHE.format(cache=quote(STAT_CACHE)))
    return "\n".join(lines) + "\n"


# The stat cache with the files just put: their lines replace any older ones for the same path.
_STAT_CACHE = """if [ -f "$B/.stat" ]; then
  {{ if [ -f "$R"{cache} ]; then cat "$R"{cache}; fi; cat "$B/.stat"; }} |
    awk '{{ last[$6] = $0 }} END {{ for (p in last) print last[p] }}' > "$R"{cache}.picluster-new
  mv -f "$R"{cache}.picluster-new "$R"{cache}
fi"""


def _put(staged: str, change: FileChange) -> str:
    f = change.file or DesiredFile(change.path, "", 0o644, "root", "root", "file", "")
    put = f"put {staged} {quote(f.path)} {f.mode:04o} {quote(f.owner)} {quote(f.group)}"
    return f"{put}\ncached {quote(f.path)} {f.sha256}" if f.sha256 else put


def rollback(root: str) -> str:
    """The script that puts back every file the last commit replaced, and removes those it
    created (the user and directories stay: harmless, and the next apply expects them)."""
    return _ROLLBACK.format(root=quote(root), backup=BACKUP)


def _pending(steps: list[str]) -> str:
    """Lines that make the pending file hold ``steps`` (unit names and fixed words only)."""
    body = "".join(f"{step}\n" for step in steps)
    return (
        f'mkdir -p "$R"{quote(PENDING.rsplit("/", 1)[0])}\n'
        f'printf %s {quote(body)} > "$R"{quote(PENDING + ".picluster-new")}\n'
        f'mv -f "$R"{quote(PENDING + ".picluster-new")} "$R"{quote(PENDING)}'
    )


def clear_pending(root: str) -> str:
    """The script that forgets the pending steps once they have all run."""
    return f'rm -f {quote(root)}"{PENDING}"\n' if root else f"rm -f {PENDING}\n"


def cleanup(root: str) -> str:
    """The script that drops the backups and the pending steps once the node is healthy."""
    prefix = quote(root) if root else ""
    return f'rm -rf {prefix}"{BACKUP}" {prefix}"{PENDING}"\n'
