"""Which container or systemd unit a process lives in, read from its cgroup path.

Container runtimes name the cgroup after the container id (docker, podman, containerd,
CRI-O) and Kubernetes adds the pod's uid; systemd names it after the unit.  The path is
all we need for the id; a human name comes from the runtime's own state files when
they are readable (docker's config.v2.json, podman's containers.json, the kubelet's
/var/log/pods directory names), else the short id stands in.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

_HEX64 = r"[0-9a-f]{64}"
# Scopes of container runtimes under systemd: docker-<id>.scope, libpod-<id>.scope, ...
_SCOPE = re.compile(rf"^(docker|libpod|cri-containerd|crio|containerd|nerdctl)-({_HEX64})\.scope$")
_CONMON = re.compile(rf"^libpod-conmon-({_HEX64})\.scope$")
_BARE_ID = re.compile(rf"^{_HEX64}$")
# kubepods-burstable-pod1b2c_..._9f.slice (systemd driver) or pod1b2c-...-9f (cgroupfs driver)
_POD = re.compile(r"^(?:kubepods(?:-[a-z]+)*-)?pod([0-9a-f_-]{32,36})(?:\.slice)?$")
_LXC = re.compile(r"^lxc\.payload\.(.+)$")
_UNIT = re.compile(r"^(.+)\.(service|scope)$")

_RUNTIME_KIND = {
    "docker": "docker",
    "libpod": "podman",
    "cri-containerd": "containerd",
    "containerd": "containerd",
    "nerdctl": "containerd",
    "crio": "cri-o",
}


@dataclass(frozen=True, slots=True)
class CgroupPlace:
    """Where a process sits: a container (``kind`` docker/podman/containerd/cri-o/lxc) or a unit."""

    kind: str  # docker | podman | containerd | cri-o | lxc | systemd
    id: str  # container id, or the unit name for systemd
    pod_uid: str | None = None  # Kubernetes pod uid (dashed form) when the path carries one

    @property
    def short_id(self) -> str:
        return self.id[:12] if _BARE_ID.match(self.id) else self.id


def cgroup_path(text: str) -> str:
    """The most telling path from /proc/<pid>/cgroup: the v2 (``0::``) line, else a v1 one.

    On hybrid hosts the v2 line may be ``/`` while v1 controllers carry the container; the
    longest path wins then.
    """
    best = ""
    v2 = ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            v2 = path
        elif len(path) > len(best):
            best = path
    if v2 and v2 != "/":
        return v2
    return best or v2


def parse_cgroup(text: str) -> CgroupPlace | None:
    """The container or unit named by a /proc/<pid>/cgroup text, or None for the root/plain slices."""
    path = cgroup_path(text)
    parts = [p for p in path.split("/") if p]
    pod_uid = None
    found: CgroupPlace | None = None
    for i, part in enumerate(parts):
        m = _POD.match(part)
        if m and (i == 0 or parts[i - 1].startswith("kubepods") or part.startswith("kubepods")):
            pod_uid = m.group(1).replace("_", "-")
            continue
        m = _SCOPE.match(part)
        if m:
            found = CgroupPlace(_RUNTIME_KIND[m.group(1)], m.group(2), pod_uid)
            continue
        m = _CONMON.match(part)
        if m:
            found = CgroupPlace("podman", m.group(1), pod_uid)
            continue
        if _BARE_ID.match(part):
            # cgroupfs driver: /docker/<id>, /kubepods/burstable/pod<uid>/<id>, /<namespace>/<id>
            prev = parts[i - 1] if i else ""
            kind = "docker" if prev == "docker" else "containerd"
            if prev.startswith("libpod") or prev == "machine.slice":
                kind = "podman"
            found = CgroupPlace(kind, part, pod_uid)
            continue
        if found is None:
            m = _LXC.match(part)
            if m:
                found = CgroupPlace("lxc", m.group(1))
            elif i and parts[i - 1] == "lxc":
                found = CgroupPlace("lxc", part)
    if found is not None:
        return found
    if pod_uid:
        return CgroupPlace("containerd", "", pod_uid)
    return _unit(parts)


def _unit(parts: list[str]) -> CgroupPlace | None:
    """The innermost systemd service or scope, skipping the per-user manager itself."""
    for part in reversed(parts):
        m = _UNIT.match(part)
        if m and not part.startswith("user@"):
            return CgroupPlace("systemd", part)
    for part in reversed(parts):
        if part.startswith("user@") and part.endswith(".service"):
            return CgroupPlace("systemd", part)
    return None


class ContainerNames:
    """Human names for container ids from the runtimes' state on disk, cached (misses too)."""

    def __init__(self, root: str = "/", cap: int = 4096) -> None:
        self.root = root
        self.cap = cap
        self._cache: dict[tuple[str, str], str | None] = {}
        self._pods: dict[str, str | None] | None = None

    def label(self, place: CgroupPlace) -> str:
        """Text for the container column: ``docker:web``, ``k8s:default/api``, ``systemd:nginx.service``."""
        if place.kind == "systemd":
            return f"systemd:{place.id}"
        if place.pod_uid:
            pod = self.pod_name(place.pod_uid)
            who = pod or f"pod-{place.pod_uid[:8]}"
            name = self.name(place) if place.id else None
            return f"k8s:{who}" + (f"/{name}" if name else "")
        name = self.name(place) or place.short_id
        return f"{place.kind}:{name}"

    def name(self, place: CgroupPlace) -> str | None:
        key = (place.kind, place.id)
        if key in self._cache:
            return self._cache[key]
        name = None
        if place.kind == "docker":
            name = self._docker(place.id)
        elif place.kind == "podman":
            name = self._podman(place.id)
        if len(self._cache) >= self.cap:
            self._cache.clear()
        self._cache[key] = name
        return name

    def _docker(self, cid: str) -> str | None:
        path = os.path.join(self.root, "var/lib/docker/containers", cid, "config.v2.json")
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read(1 << 20))
        except (OSError, ValueError):
            return None
        name = data.get("Name") if isinstance(data, dict) else None
        return name.lstrip("/") if isinstance(name, str) and name.strip("/") else None

    def _podman(self, cid: str) -> str | None:
        for rel in (
            "var/lib/containers/storage/overlay-containers/containers.json",
            "var/lib/containers/storage/vfs-containers/containers.json",
        ):
            try:
                with open(os.path.join(self.root, rel), "rb") as fh:
                    data = json.loads(fh.read(8 << 20))
            except (OSError, ValueError):
                continue
            for c in data if isinstance(data, list) else ():
                if isinstance(c, dict) and c.get("id") == cid and c.get("names"):
                    return str(c["names"][0])
        return None

    def pod_name(self, uid: str) -> str | None:
        """``namespace/pod`` from the kubelet's log directories (``<ns>_<pod>_<uid>``)."""
        if self._pods is None or uid not in self._pods:
            self._pods = {}
            try:
                entries = os.listdir(os.path.join(self.root, "var/log/pods"))
            except OSError:
                entries = []
            for entry in entries[:10_000]:
                bits = entry.rsplit("_", 2)
                if len(bits) == 3:
                    self._pods[bits[2]] = f"{bits[0]}/{bits[1]}"
            self._pods.setdefault(uid, None)  # a miss is remembered until the next miss
        return self._pods.get(uid)
