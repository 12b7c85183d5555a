"""A libvirt test-driver node with many running domains: `test:///<path of the written XML>`.

Why it exists: the VM agent's scale test and benchmark need hundreds of domains without a
hypervisor; libvirt's `test` driver loads a whole node (domains with NICs and disks) from one XML.
"""

from __future__ import annotations

import uuid
from pathlib import Path

_DOMAIN = """  <domain type='test'>
    <name>{name}</name>
    <uuid>{uuid}</uuid>
    <memory unit='KiB'>1048576</memory>
    <currentMemory unit='KiB'>524288</currentMemory>
    <vcpu placement='static'>{vcpus}</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <source file='/guest/{name}-root.img'/><target dev='vda' bus='virtio'/>
      </disk>
      <disk type='file' device='disk'>
        <source file='/guest/{name}-data.img'/><target dev='vdb' bus='virtio'/>
      </disk>
      <interface type='network'>
        <mac address='52:54:00:{mac}'/><source network='default'/>
      </interface>
      <memballoon model='virtio'/>
    </devices>
  </domain>
"""


def domain_uuid(index: int) -> str:
    """The stable UUID of generated domain number `index`."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fleetstream-test-vm-{index}"))


def node_xml(domains: int) -> str:
    """A node of `domains` running domains `vm-0000`..., each with 2 disks and 1 NIC."""
    parts = ["<node>\n"]
    for index in range(domains):
        mac = ":".join(f"{(index >> shift) & 0xFF:02x}" for shift in (16, 8, 0))
        parts.append(_DOMAIN.format(name=f"vm-{index:04d}", uuid=domain_uuid(index),
                                    vcpus=1 + index % 4, mac=mac))
    parts.append("</node>\n")
    return "".join(parts)


def write_node(directory: Path, domains: int) -> str:
    """Write the node XML under `directory`; returns its `test:///` URI."""
    path = (directory / f"libvirt-node-{domains}.xml").resolve()
    path.write_text(node_xml(domains))
    return f"test://{path}"
