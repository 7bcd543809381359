"""Containers and units from /proc/<pid>/cgroup lines as the runtimes write them."""

from __future__ import annotations

import json
import os

import pytest

from tui.attribution.cgroups import CgroupPlace, ContainerNames, cgroup_path, parse_cgroup
from tui.attribution.procfs import read_process

CID = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"
CID2 = "a" * 64
POD = "1b2c3d4e-5f60-4718-92a3-b4c5d6e7f809"

CASES = [
    # docker, cgroup v2 with the systemd driver
    (f"0::/system.slice/docker-{CID}.scope\n", CgroupPlace("docker", CID)),
    # docker, cgroup v1 with the cgroupfs driver (several controllers)
    (
        f"12:pids:/docker/{CID}\n11:memory:/docker/{CID}\n1:name=systemd:/docker/{CID}\n0::/\n",
        CgroupPlace("docker", CID),
    ),
    # podman (root), v2
    (f"0::/machine.slice/libpod-{CID}.scope/container\n", CgroupPlace("podman", CID)),
    # podman rootless, under the user's manager
    (
        f"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{CID}.scope\n",
        CgroupPlace("podman", CID),
    ),
    # podman's conmon monitor
    (f"0::/machine.slice/libpod-conmon-{CID}.scope\n", CgroupPlace("podman", CID)),
    # kubernetes + containerd, systemd driver (pod uid with underscores)
    (
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        + POD.replace("-", "_")
        + f".slice/cri-containerd-{CID}.scope\n",
        CgroupPlace("containerd", CID, POD),
    ),
    # kubernetes, guaranteed QoS, cgroupfs driver, v1
    (f"4:memory:/kubepods/pod{POD}/{CID}\n", CgroupPlace("containerd", CID, POD)),
    # kubernetes besteffort with CRI-O
    (
        "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
        + POD.replace("-", "_")
        + f".slice/crio-{CID2}.scope\n",
        CgroupPlace("cri-o", CID2, POD),
    ),
    # plain containerd (nerdctl / ctr): namespace/id
    (f"0::/default/{CID}\n", CgroupPlace("containerd", CID)),
    # LXC
    ("0::/lxc.payload.web01/init.scope\n", CgroupPlace("lxc", "web01")),
    # systemd system service
    ("0::/system.slice/nginx.service\n", CgroupPlace("systemd", "nginx.service")),
    # desktop app in a user session: the innermost scope
    (
        "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1a2b.scope\n",
        CgroupPlace("systemd", "vte-spawn-1a2b.scope"),
    ),
    # login session
    ("0::/user.slice/user-1000.slice/session-3.scope\n", CgroupPlace("systemd", "session-3.scope")),
    # nothing to say: the root, or a plain v1 hierarchy
    ("0::/\n", None),
    ("9:name=systemd:/\n8:pids:/\n0::/\n", None),
    ("4:memory:/process_api/ed711c71ad695058890b9e4ed5ea935b\n0::/\n", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_cgroup_lines_name_the_container_or_unit(text, expected):
    assert parse_cgroup(text) == expected


def test_hybrid_hierarchy_prefers_the_line_that_names_something():
    text = f"0::/\n1:name=systemd:/system.slice/docker-{CID}.scope\n"
    assert cgroup_path(text) == f"/system.slice/docker-{CID}.scope"
    assert parse_cgroup(text) == CgroupPlace("docker", CID)


def test_labels_use_runtime_state_when_readable(tmp_path):
    """Names come from the runtimes' own files; without them the short id stands in."""
    d = tmp_path / "var/lib/docker/containers" / CID
    d.mkdir(parents=True)
    (d / "config.v2.json").write_text(json.dumps({"Name": "/web", "ID": CID}))
    p = tmp_path / "var/lib/containers/storage/overlay-containers"
    p.mkdir(parents=True)
    (p / "containers.json").write_text(json.dumps([{"id": CID2, "names": ["db"]}]))
    (tmp_path / "var/log/pods" / f"shop_api-7d9f_{POD}").mkdir(parents=True)
    names = ContainerNames(root=str(tmp_path))
    assert names.label(CgroupPlace("docker", CID)) == "docker:web"
    assert names.label(CgroupPlace("podman", CID2)) == "podman:db"
    assert names.label(CgroupPlace("podman", CID)) == f"podman:{CID[:12]}"
    assert names.label(CgroupPlace("containerd", CID, POD)) == "k8s:shop/api-7d9f"
    assert names.label(CgroupPlace("containerd", CID, "0" * 8 + POD[8:])) == "k8s:pod-00000000"
    assert names.label(CgroupPlace("systemd", "nginx.service")) == "systemd:nginx.service"


def test_read_process_describes_this_process():
    info = read_process(os.getpid())
    assert info is not None
    assert info.pid == os.getpid() and info.uid == os.geteuid()
    with open("/proc/self/comm") as fh:
        assert info.comm == fh.read().strip()
    assert "pytest" in info.cmdline
    assert read_process(2**22 + 12345) is None  # beyond pid_max: never a process
