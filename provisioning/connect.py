"""Open a management session on a box, over the transport its target names."""

from __future__ import annotations

from provisioning.session import BoxTarget, Session, Timeouts


async def connect(target: BoxTarget, timeouts: Timeouts | None = None) -> Session:
    """A session over SSH or sysbus, as `target.transport` says; errors as in session.py."""
    timeouts = timeouts or Timeouts()
    if target.transport == "ssh":
        from provisioning.ssh import connect_ssh

        return await connect_ssh(target, timeouts)
    from provisioning.sysbus import connect_sysbus

    return await connect_sysbus(target, timeouts)
