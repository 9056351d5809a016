"""One emulated Livebox pro: its configuration tree, DSL line, identity and admin credentials."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import asyncssh

from emulator.config import BoxConfig, Change
from emulator.dsl import DslLine, LineProfile, Technology
from profiles.clock import Clock, RealClock
from profiles.datamodel import DataModel
from profiles.model import Offer

if TYPE_CHECKING:
    from emulator.voip import VoipLine

#: The tree's Line.CallState for each state of the phone on the line's port.
CALL_STATES: Final = {
    "idle": "Idle",
    "ringing": "Ringing",
    "calling": "Calling",
    "in-call": "InCall",
}

DSL = "Device.DSL.Line.1."
WAN = "Device.IP.Interface.2."
WAN_ADDRESS = "Device.IP.Interface.2.IPv4Address.1."
DEVICE_INFO = "Device.DeviceInfo."
VOICE_LINE = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk.Line.LINE1."

#: The getDSLStats counters the tree keeps (Device.DSL.Line.1.Stats.).
STATS_IN_TREE = (
    "LinkRetrain",
    "InitErrors",
    "InitTimeouts",
    "LossOfFraming",
    "ErroredSecs",
    "SeverelyErroredSecs",
    "FECErrors",
    "CRCErrors",
    "HECErrors",
)
#: A dynamic WAN address, from the documentation range (RFC 5737): data, never a destination.
DYNAMIC_WAN = ("203.0.113.{n}", "203.0.113.1", "192.0.2.53,192.0.2.54")

Method = Callable[["EmulatedBox", Mapping[str, str]], Any]


class LoginRefused(PermissionError):
    """Wrong user or password (the message never says which)."""


@dataclass(frozen=True, slots=True)
class BoxIdentity:
    """What tells boxes apart: name, serial number and base MAC address."""

    name: str
    serial: str
    mac: str

    @classmethod
    def derive(cls, name: str) -> BoxIdentity:
        """A stable identity from the box's name, so a bench sees the same box after restarts."""
        digest = hashlib.sha256(name.encode()).digest()
        mac = "a4:3e:51:" + ":".join(f"{b:02x}" for b in digest[:3])
        return cls(name=name, serial=f"LBP{int.from_bytes(digest[3:8]):012d}"[:15], mac=mac)


class EmulatedBox:
    """A Livebox pro: the tree every management interface reads and writes, and what it runs.

    The configuration lives in `config` (candidate, running, commit confirm, checkpoints);
    read-only state (uptime, DSL rates, WAN status, line status) is refreshed into the tree by
    `refresh()` before each read, from the DSL line and the injected clock.

    >>> box = EmulatedBox.create("box-1", offer, LineProfile("vdsl2", attenuation_db=12))
    ...                                                                    # doctest: +SKIP
    """

    def __init__(
        self,
        identity: BoxIdentity,
        *,
        offer: Offer,
        config: BoxConfig,
        dsl: DslLine,
        clock: Clock,
        admin_user: str,
        admin_password: str,
        host_key: asyncssh.SSHKey,
        state_dir: Path | None = None,
    ) -> None:
        self.identity = identity
        self.offer = offer
        self.config = config
        self.dsl = dsl
        self.clock = clock
        self.admin_user = admin_user
        self._password_digest = _digest(admin_password)
        self.host_key = host_key
        self.authorized_keys: list[asyncssh.SSHKey] = []
        self.state_dir = state_dir
        self.started = clock.monotonic()
        self.methods: dict[tuple[str, str], Method] = {
            ("Device.", "Reboot"): EmulatedBox._reboot,
        }
        self.reboots = 0
        #: The VoIP line's SIP user agent, when the box is served with an operator core.
        self.voip: VoipLine | None = None

    @property
    def name(self) -> str:
        return self.identity.name

    def call_list(self) -> list[dict[str, object]]:
        """The VoIP line's last calls (sysbus getCallList), newest last; none without telephony."""
        return list(self.voip.call_list) if self.voip is not None else []

    # -- creation and persistence ----------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        offer: Offer,
        line: LineProfile,
        *,
        clock: Clock | None = None,
        admin_user: str = "admin",
        admin_password: str = "admin",
        model: DataModel | None = None,
        state_dir: Path | None = None,
        host_key: asyncssh.SSHKey | None = None,
    ) -> EmulatedBox:
        """A new box on `offer` with a DSL line; with `state_dir`, it is kept there.

        If `state_dir` already holds a box, that box is loaded instead (its configuration,
        checkpoints, pending confirm and host key), so a bench restarts without losing a commit.
        """
        clock = clock or RealClock()
        model = model or DataModel.load()
        if state_dir is not None and (state_dir / "box.json").exists():
            return cls.load(state_dir, offer, clock=clock, model=model)
        identity = BoxIdentity.derive(name)
        values = {
            f"{DEVICE_INFO}SerialNumber": identity.serial,
            f"{DEVICE_INFO}BaseMAC": identity.mac,
        }
        state_file = state_dir / "config.json" if state_dir else None
        config = BoxConfig(model, clock, values=values, state_file=state_file)
        dsl = DslLine(line, offer.internet, clock=clock)
        key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        box = cls(
            identity,
            offer=offer,
            config=config,
            dsl=dsl,
            clock=clock,
            admin_user=admin_user,
            admin_password=admin_password,
            host_key=key,
            state_dir=state_dir,
        )
        if state_dir is not None:
            box.save()
        return box

    def save(self) -> None:
        """Write the box to its state directory (atomic files; secrets readable by owner only)."""
        if self.state_dir is None:
            raise ValueError(f"box {self.name} has no state directory")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config.save(self.state_dir / "config.json")
        profile = self.dsl.profile
        document = {
            "name": self.name,
            "serial": self.identity.serial,
            "mac": self.identity.mac,
            "offer": self.offer.name,
            "admin_user": self.admin_user,
            "admin_password_sha256": self._password_digest.hex(),
            "dsl": {
                "technology": str(profile.technology),
                "attenuation_db": profile.attenuation_db,
                "loop_length_m": profile.loop_length_m,
                "tv_in_use": profile.tv_in_use,
            },
        }
        _write_private(self.state_dir / "box.json", json.dumps(document, indent=2).encode())
        _write_private(self.state_dir / "host_key", self.host_key.export_private_key())

    @classmethod
    def load(
        cls,
        state_dir: Path,
        offer: Offer,
        *,
        clock: Clock | None = None,
        model: DataModel | None = None,
    ) -> EmulatedBox:
        """The box kept in `state_dir` (as `save` wrote it)."""
        clock = clock or RealClock()
        model = model or DataModel.load()
        document = json.loads((state_dir / "box.json").read_text(encoding="utf-8"))
        dsl_fields = document["dsl"]
        line = LineProfile(
            Technology(dsl_fields["technology"]),
            attenuation_db=dsl_fields["attenuation_db"],
            loop_length_m=None
            if dsl_fields["attenuation_db"] is not None
            else dsl_fields["loop_length_m"],
            tv_in_use=dsl_fields["tv_in_use"],
        )
        config = BoxConfig.load(state_dir / "config.json", model, clock)
        box = cls(
            BoxIdentity(document["name"], document["serial"], document["mac"]),
            offer=offer,
            config=config,
            dsl=DslLine(line, offer.internet, clock=clock),
            clock=clock,
            admin_user=document["admin_user"],
            admin_password="",
            host_key=asyncssh.import_private_key((state_dir / "host_key").read_bytes()),
            state_dir=state_dir,
        )
        box._password_digest = bytes.fromhex(document["admin_password_sha256"])
        return box

    # -- management --------------------------------------------------------------------

    def check_login(self, user: str, password: str) -> None:
        """Raise LoginRefused unless user and password are the admin's (constant time)."""
        user_ok = hmac.compare_digest(user.encode(), self.admin_user.encode())
        password_ok = hmac.compare_digest(_digest(password), self._password_digest)
        if not (user_ok and password_ok):
            raise LoginRefused("wrong user or password")

    def call(self, path: str, method: str, args: Mapping[str, str]) -> Any:
        """Run a data-model method (type-checked by the model) and return its result."""
        checked = self.config.model.check_call(f"{path}{method}", args)
        template = self.config.model.template(path)
        action = self.methods.get((template, method))
        if action is None:
            raise NotImplementedError(f"{path}{method}() is declared but this box does not run it")
        return action(self, checked)

    def _reboot(self, args: Mapping[str, str]) -> dict[str, str]:
        # The configuration survives a reboot; uptime and the DSL line start again.
        self.reboots += 1
        self.started = self.clock.monotonic()
        if self.dsl.status == "Up":
            self.dsl.lose_sync()
            self.dsl.resync()
        self.refresh()
        return {"Reason": args.get("Reason", "")}

    def subscribe(self, listener: Callable[[list[Change]], None]) -> None:
        self.config.subscribe(listener)

    # -- state -------------------------------------------------------------------------

    def refresh(self, path: str = "Device.") -> None:
        """Copy the box's live state (uptime, DSL, WAN, VoIP line) into the tree's read-only
        parameters: all of it, or what a read of `path` can see (a poll of the VoIP line's
        status does not recompute the DSL line)."""

        def seen(prefix: str) -> bool:
            return prefix.startswith(path) or path.startswith(prefix)

        state = self.config.set_state
        if seen(DEVICE_INFO):
            state(f"{DEVICE_INFO}UpTime", str(int(self.clock.monotonic() - self.started)))
        if self.voip is not None and seen(VOICE_LINE):
            state(f"{VOICE_LINE}Status", self.voip.status)
            state(f"{VOICE_LINE}X_LIVEBOX-LAB_StatusInfo", self.voip.info)
            state(f"{VOICE_LINE}CallState", CALL_STATES[self.voip.phone.state])
        if seen(DSL) or seen(WAN):
            self._refresh_line()

    def _refresh_line(self) -> None:
        state = self.config.set_state
        mib = self.dsl.mibs()["dsl"][self.dsl.name]
        up = mib["LinkStatus"] == "Up"
        rates = self.dsl.ip_rates()
        state(f"{DSL}Status", "Up" if up else "Down")
        # TR-181 has no "Down" link status: a line without sync reports NoSignal.
        state(
            f"{DSL}LinkStatus",
            "NoSignal" if not up and mib["LinkStatus"] == "Down" else str(mib["LinkStatus"]),
        )
        for key in (
            "UpstreamCurrRate",
            "DownstreamCurrRate",
            "UpstreamNoiseMargin",
            "DownstreamNoiseMargin",
            "UpstreamAttenuation",
            "DownstreamAttenuation",
            "UpstreamPower",
            "DownstreamPower",
        ):
            state(f"{DSL}{key}", str(mib[key]))
        state(f"{DSL}UpstreamMaxBitRate", str(mib["UpstreamMaxRate"]))
        state(f"{DSL}DownstreamMaxBitRate", str(mib["DownstreamMaxRate"]))
        state(f"{DSL}StandardUsed", "G.993.2" if self.dsl.technology == "vdsl2" else "G.992.5")
        state(f"{DSL}ModulationType", str(mib["ModulationType"]))
        state(f"{DSL}X_SOFTATHOME-COM_UpstreamIPRate", str(rates.up_kbps if up else 0))
        state(f"{DSL}X_SOFTATHOME-COM_DownstreamIPRate", str(rates.down_kbps if up else 0))
        stats = self.dsl.dsl_stats()
        for key in STATS_IN_TREE:
            state(f"{DSL}Stats.{key}", str(stats[key]))
        self._refresh_wan(up)

    def _refresh_wan(self, up: bool) -> None:
        state, value = self.config.set_state, self.config.value
        link = "vdsl" if self.dsl.technology == "vdsl2" else "dsl"
        state(f"{WAN}X_SOFTATHOME-COM_LinkType", link)
        state(f"{WAN}X_SOFTATHOME-COM_LinkState", "up" if up else "down")
        state(f"{WAN}Status", "Up" if up else "LowerLayerDown")
        state(f"{WAN}X_SOFTATHOME-COM_ConnectionState", "Bound" if up else "Idle")
        if not up:
            address = gateway = dns = ""
        elif value(f"{WAN_ADDRESS}AddressingType") == "Static":
            address = value(f"{WAN_ADDRESS}IPAddress")
            gateway = value("Device.Routing.Router.1.IPv4Forwarding.1.GatewayIPAddress")
            servers = (value(f"Device.DNS.Client.Server.{n}.DNSServer") for n in (1, 2))
            dns = ",".join(server for server in servers if server)
        else:
            template, gateway, dns = DYNAMIC_WAN
            address = template.format(n=10 + int(self.identity.mac[-2:], 16) % 200)
        state(f"{WAN}X_SOFTATHOME-COM_IPAddress", address)
        state(f"{WAN}X_SOFTATHOME-COM_RemoteGateway", gateway)
        state(f"{WAN}X_SOFTATHOME-COM_DNSServers", dns)


def _digest(password: str) -> bytes:
    return hashlib.sha256(password.encode()).digest()


def _write_private(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
