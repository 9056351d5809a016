"""The technician's site file: what one box should become, checked before any connection."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import netaddr  # type: ignore[import-untyped]
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from profiles.catalogue import Catalogue, DataFileError, UnknownOfferError, read_yaml
from profiles.model import LineName, Offer
from profiles.numbering import DialledNumber, NumberingError, NumberingPlan, NumberKind
from provisioning.session import BoxTarget

__all__ = [
    "SECRET_SOURCES",
    "Box",
    "ClassicLine",
    "DhcpPool",
    "FixedIp",
    "Forwarding",
    "Lan",
    "NoAnswer",
    "PortForward",
    "Site",
    "SiteError",
    "SiteOrigin",
    "SiteRules",
    "StaticLease",
    "VoipLine",
    "load_site",
    "parse_site",
    "read_site_yaml",
]

#: The ways a password may be given, exactly one per section (box, voip_line).
SECRET_SOURCES = ("password", "password_env", "password_file")
#: Default management ports when the site gives none.
DEFAULT_PORTS = {"ssh": 22, "sysbus": 80}
#: The call-forwarding service of the internet line in the offer files.
FORWARDING_SERVICE = "call-forwarding"

#: The private blocks of RFC 1918, where a LAN lives.
PRIVATE_BLOCKS = tuple(
    netaddr.IPNetwork(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)

# Every IPv4 block that is not public unicast, with what it is. The documentation blocks
# (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) are deliberately absent: examples and tests
# use them for fake public addresses, and a real box would simply get no traffic there.
_NOT_PUBLIC = tuple(
    (netaddr.IPNetwork(block), what)
    for block, what in (
        ("0.0.0.0/8", "a 'this network' address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared address of carrier-grade NAT"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment"),
        ("192.88.99.0/24", "a 6to4 relay anycast address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),  # 255.255.255.255 included
    )
)

_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# netaddr alone reads "00:1a:2b" as a MAC address: only the usual full forms are accepted.
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{12}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USER = re.compile(r"[^\s\x00-\x1f\x7f]+")
_SIP_USER = re.compile(r"[^\s\x00-\x1f\x7f@:;<>\"]+")
# Entries are named site-<name> on the box, whose aliases are at most 64 characters.
_ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,58}")

_KIND_TEXT = {
    NumberKind.FIXED: "a fixed number",
    NumberKind.MOBILE: "a mobile number",
    NumberKind.IP: "an n° IP (09) number",
    NumberKind.SPECIAL: "a special number",
    NumberKind.SHORT: "a short number",
    NumberKind.EMERGENCY: "an emergency number",
}
_NOT_FORWARDABLE = frozenset({NumberKind.SPECIAL, NumberKind.SHORT, NumberKind.EMERGENCY})


# --- Errors ------------------------------------------------------------------------------


class SiteError(DataFileError):
    """A site that cannot be provisioned: the message names the file, the field and why.

    Never carries a password, whatever the mistake.
    """


class _Problem(ValueError):
    """A mistake on a field below the model whose validator raises it (`field` is relative)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(reason)


# --- What validating a site needs -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteRules:
    """What a site is checked against: the offer catalogue and its numbering plan."""

    catalogue: Catalogue
    plan: NumberingPlan

    @classmethod
    def load(cls, catalogue: Catalogue | None = None) -> SiteRules:
        """The rules of a catalogue (default: the shipped one). Build once for many sites."""
        catalogue = catalogue or Catalogue.load()
        return cls(catalogue, catalogue.numbering_plan())


@dataclass(frozen=True, slots=True)
class SiteOrigin:
    """Where a site was read: its name, its file, the field path of its fields in that file
    (`hosts.shop-12.` in an inventory, empty for a site file) and its groups."""

    name: str
    source: Path
    field_prefix: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Context:
    rules: SiteRules
    offer: Offer | None
    base: Path  # relative file names are read from here (the site file's folder)


def _context(info: ValidationInfo) -> _Context:
    found = info.context.get("site") if isinstance(info.context, dict) else None
    if not isinstance(found, _Context):
        raise ValueError(
            "a site is validated by load_site or load_inventory, which know the offers and "
            "the numbering plan"
        )
    return found


# --- Field types -------------------------------------------------------------------------


def _ipv4(value: object) -> str:
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not netaddr.valid_ipv4(text):
        raise ValueError(f"{value!r} is not an IPv4 address (four numbers 0 to 255, as 192.0.2.1)")
    return str(netaddr.IPAddress(text))


def _host(value: object) -> str:
    if isinstance(value, str):
        name = value.strip().removesuffix(".").lower()
        labels = name.split(".")
        if all(label.isdigit() for label in labels):
            if netaddr.valid_ipv4(name):
                return name
        elif len(name) <= 253 and all(_LABEL.fullmatch(label) for label in labels):
            return name
    raise ValueError(
        f"{value!r} is not a host name or IPv4 address (labels of letters, digits and '-')"
    )


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"{value} is not a port number (1 to 65535)")
    return value


def _prefix_length(value: int) -> int:
    if not 8 <= value <= 30:
        raise ValueError(f"{value} is not a prefix length for this network (8 to 30)")
    return value


def _mac(value: object) -> str:
    if isinstance(value, int):
        # YAML 1.1 reads 12:34:56:12:34:56 as a base-60 number.
        raise ValueError('write the MAC address in quotes, as "00:1a:2b:3c:4d:5e"')
    if not isinstance(value, str) or not _MAC.fullmatch(value.strip()):
        raise ValueError(f"{value!r} is not a MAC address (as 00:1a:2b:3c:4d:5e)")
    mac = netaddr.EUI(value.strip(), dialect=netaddr.mac_unix_expanded)
    if int(mac) >> 40 & 1:
        raise ValueError(f"{value!r} is a multicast MAC address, not a device's")
    if int(mac) == 0:
        raise ValueError(f"{value!r} is the null MAC address, not a device's")
    return str(mac)


def _entry_name(value: object) -> str:
    if not isinstance(value, str) or not _ENTRY_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an entry name (letters, digits, '_' and '-', starting with a "
            "letter or digit, at most 59 characters: the box's entry is named site-<name>)"
        )
    return value


def _user(value: object) -> str:
    if not isinstance(value, str) or not _USER.fullmatch(value):
        raise ValueError(f"{value!r} is not a user name (no spaces)")
    return value


def _sip_user(value: object) -> str:
    if not isinstance(value, str) or not _SIP_USER.fullmatch(value):
        raise ValueError(f'{value!r} is not a SIP user name (no spaces, and none of @ : ; < > ")')
    return value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _local_path(value: object, info: ValidationInfo) -> object:
    if not isinstance(value, str | Path):
        return value
    path = Path(value).expanduser()
    return path if path.is_absolute() else _context(info).base / path


def _classify(value: object, info: ValidationInfo) -> DialledNumber:
    if isinstance(value, int) and not isinstance(value, bool):
        # Unquoted, YAML reads 0145000000 as an (octal) integer and the leading 0 is lost.
        raise ValueError(
            f'write phone numbers in quotes, as "01 99 00 12 34" (unquoted, YAML read the '
            f"integer {value})"
        )
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a phone number")
    try:
        return _context(info).rules.plan.classify(value)
    except NumberingError as exc:
        raise ValueError(str(exc)) from None


def _kind_and_region(number: DialledNumber) -> str:
    region = "metropolitan France" if number.region == "FR" else number.region
    if number.region == "001":
        region = "a global service"
    return f"{_KIND_TEXT[number.kind]} of {region}"


def _wanted(kinds: Sequence[str], regions: Sequence[str]) -> str:
    texts = [_KIND_TEXT[NumberKind(kind)].removeprefix("a ").removeprefix("an ") for kind in kinds]
    texts = [text.removesuffix(" number") for text in texts]
    places = ["metropolitan France" if region == "FR" else region for region in regions]
    return f"a {' or '.join(texts)} number of {' or '.join(places)}"


def _classic_number(value: object, info: ValidationInfo) -> str:
    number = _classify(value, info)
    if number.kind != NumberKind.FIXED or number.region != "FR":
        raise ValueError(
            f"{number.dialled} is {_kind_and_region(number)}; the classic line has "
            f"{_wanted(['fixed'], ['FR'])}"
        )
    return number.number


def _directory_number(value: object, info: ValidationInfo) -> str:
    number = _classify(value, info)
    if number.kind not in (NumberKind.FIXED, NumberKind.IP) or number.region != "FR":
        raise ValueError(
            f"{number.dialled} is {_kind_and_region(number)}; the internet line has "
            f"{_wanted(['fixed', 'ip'], ['FR'])}"
        )
    return number.number


def _continuity_target(value: object, info: ValidationInfo) -> str:
    number = _classify(value, info)
    offer = _context(info).offer
    if offer is None:
        return number.number  # the unknown offer is reported on its own field
    rule = offer.calls.continuity
    if number.kind not in rule.kinds or number.region not in rule.regions:
        raise ValueError(
            f"{number.dialled} is {_kind_and_region(number)}; the classic line is redirected "
            f"on failure to {_wanted(rule.kinds, rule.regions)} (footnote 15 of the offer)"
        )
    return number.number


def _forward_target(value: object, info: ValidationInfo) -> str:
    number = _classify(value, info)
    if number.kind in _NOT_FORWARDABLE:
        raise ValueError(
            f"{number.dialled} is {_KIND_TEXT[number.kind]}; forwarding to special, short or "
            "emergency numbers is not allowed"
        )
    return number.number


IPv4 = Annotated[str, BeforeValidator(_ipv4)]
Host = Annotated[str, BeforeValidator(_host)]
Port = Annotated[int, AfterValidator(_port)]
PrefixLength = Annotated[int, AfterValidator(_prefix_length)]
Seconds = Annotated[int, Field(gt=0)]
Mac = Annotated[str, BeforeValidator(_mac)]
EntryName = Annotated[str, BeforeValidator(_entry_name)]
LocalPath = Annotated[Path, BeforeValidator(_local_path)]
#: Phone numbers are kept in E.164 (`+33199001234`), as the box and the exchange store them.
ClassicNumber = Annotated[str, BeforeValidator(_classic_number)]
DirectoryNumber = Annotated[str, BeforeValidator(_directory_number)]
ContinuityTarget = Annotated[str, BeforeValidator(_continuity_target)]
ForwardTarget = Annotated[str, BeforeValidator(_forward_target)]


# --- Sections of the site file -----------------------------------------------------------


class _Section(BaseModel):
    """A part of the site file: unknown fields are mistakes."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class _WithPassword(_Section):
    """A section with a password given one way: in the file, by environment variable, or by
    file (whose trailing line end is dropped). `password` holds it, whichever way it came."""

    password: SecretStr | None = None
    password_env: str | None = None
    password_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _read_password(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        given = [key for key in SECRET_SOURCES if data.get(key) is not None]
        if len(given) > 1:
            raise ValueError(f"give the password one way, not {len(given)}: {' and '.join(given)}")
        if not given:
            return data
        if given[0] == "password":
            value = data["password"]
            if isinstance(value, SecretStr):
                return data
            if not isinstance(value, str):
                raise _Problem("password", "write the password as text, in quotes")
            return {**data, "password": SecretStr(_not_empty("password", value))}
        if given[0] == "password_env":
            name = data["password_env"]
            if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
                raise _Problem("password_env", f"{name!r} is not an environment variable name")
            value = os.environ.get(name)
            if value is None:
                raise _Problem("password_env", f"the environment variable {name} is not set")
            return {**data, "password": SecretStr(_not_empty("password_env", value, name))}
        raw = data["password_file"]
        if not isinstance(raw, str | Path):
            raise _Problem("password_file", f"{raw!r} is not a file name")
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else _context(info).base / path
        try:
            text = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise _Problem("password_file", f"cannot read {path} ({why})") from None
        if "\n" in text:
            raise _Problem("password_file", f"{path} holds more than one line")
        secret = SecretStr(_not_empty("password_file", text, str(path)))
        return {**data, "password": secret, "password_file": path}


def _not_empty(field: str, value: str, where: str = "") -> str:
    if value == "":
        raise _Problem(field, f"{where} is empty" if where else "is empty")
    return value


class Box(_WithPassword):
    """How to reach the box's management interface; it becomes a `BoxTarget`.

    `port` defaults to 22 (ssh) or 80 (sysbus). Over ssh, a password or a `key_file`; over
    sysbus, a password. Host keys are checked against `known_hosts` (OpenSSH format); with
    `trust_on_first_use` an unknown key is accepted and added to that file.
    """

    host: Host
    port: Port
    transport: Literal["ssh", "sysbus"] = "ssh"
    user: Annotated[str, BeforeValidator(_user)] = "admin"
    key_file: LocalPath | None = None
    known_hosts: LocalPath | None = None
    trust_on_first_use: bool = False

    @model_validator(mode="before")
    @classmethod
    def _default_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("port") is None:
            # An unknown transport gets the ssh port, so that its own error is the one shown.
            port = DEFAULT_PORTS.get(str(data.get("transport", "ssh")), DEFAULT_PORTS["ssh"])
            return {**data, "port": port}
        return data

    @model_validator(mode="after")
    def _usable(self) -> Box:
        sources = "password, password_env or password_file"
        if self.transport == "sysbus":
            for field in ("key_file", "known_hosts"):
                if getattr(self, field) is not None:
                    raise _Problem(field, "is for ssh; sysbus logs in with a password")
            if self.trust_on_first_use:
                raise _Problem("trust_on_first_use", "is for ssh host keys; sysbus has none")
            if self.password is None:
                raise ValueError(f"sysbus logs in with a password: give one ({sources})")
            return self
        if self.password is None and self.key_file is None:
            raise ValueError(f"give a password ({sources}) or a key_file")
        if self.key_file is not None and not self.key_file.is_file():
            raise _Problem("key_file", f"no such file: {self.key_file}")
        if self.trust_on_first_use and self.known_hosts is None:
            raise _Problem(
                "trust_on_first_use", "needs a known_hosts file to add the new host key to"
            )
        known_hosts = self.known_hosts
        if known_hosts is not None and not self.trust_on_first_use and not known_hosts.is_file():
            raise _Problem(
                "known_hosts",
                f"no such file: {self.known_hosts} (give an existing known-hosts file, or "
                "set trust_on_first_use: true to start one)",
            )
        return self


class ClassicLine(_Section):
    """The classic line: its number, and the number its calls are redirected to when it
    fails (footnote 15). Both live at the operator's exchange, not in the box."""

    number: ClassicNumber
    continuity: ContinuityTarget | None = None

    @model_validator(mode="after")
    def _elsewhere(self) -> ClassicLine:
        if self.continuity == self.number:
            raise _Problem("continuity", f"{self.continuity} is the classic line's own number")
        return self


class VoipLine(_WithPassword):
    """The internet phone line: its number, SIP identity and the operator's SIP servers."""

    directory_number: DirectoryNumber
    sip_user: Annotated[str, BeforeValidator(_sip_user)]
    registrar: Host
    registrar_port: Port = 5060
    proxy: Host
    proxy_port: Port = 5060
    domain: Host
    outbound_proxy: Host | None = None
    outbound_proxy_port: Port = 5060

    @model_validator(mode="after")
    def _has_password(self) -> VoipLine:
        if self.password is None:
            raise _Problem(
                "password",
                "missing: the line registers with its SIP password "
                "(password, password_env or password_file)",
            )
        return self


def _special(address: netaddr.IPAddress, network: netaddr.IPNetwork) -> str | None:
    if address == network.network:
        return f"the network address of {network.cidr}"
    if address == network.broadcast:
        return f"the broadcast address of {network.cidr}"
    return None


def _not_public(address: str) -> str | None:
    ip = netaddr.IPAddress(address)
    for block, what in _NOT_PUBLIC:
        if ip in block:
            return f"{address} is {what} ({block}); a fixed IP is a public unicast address"
    return None


class FixedIp(_Section):
    """The fixed IP of the offer (footnote 10), when the customer asked for it.

    A public unicast IPv4 address (the documentation blocks are accepted, see _NOT_PUBLIC),
    neither the network nor the broadcast address of its prefix; the gateway in the same
    prefix; one or two DNS servers, public too.
    """

    address: IPv4
    prefix: PrefixLength
    gateway: IPv4
    dns: list[IPv4] = Field(min_length=1, max_length=2)

    @property
    def network(self) -> netaddr.IPNetwork:
        return netaddr.IPNetwork(f"{self.address}/{self.prefix}")

    @property
    def netmask(self) -> str:
        return str(self.network.netmask)

    @model_validator(mode="after")
    def _routable(self) -> FixedIp:
        network = self.network
        for field, address in (("address", self.address), ("gateway", self.gateway)):
            problem = _not_public(address)
            if problem:
                raise _Problem(field, problem)
        special = _special(netaddr.IPAddress(self.address), network)
        if special:
            raise _Problem("address", f"{self.address} is {special}")
        gateway = netaddr.IPAddress(self.gateway)
        if gateway not in network:
            raise _Problem(
                "gateway", f"{self.gateway} is not in {network.cidr}, the fixed IP's prefix"
            )
        if self.gateway == self.address:
            raise _Problem("gateway", f"{self.gateway} is the fixed IP itself")
        special = _special(gateway, network)
        if special:
            raise _Problem("gateway", f"{self.gateway} is {special}")
        for index, server in enumerate(self.dns):
            problem = _not_public(server)
            if problem:
                raise _Problem(f"dns.{index}", problem.replace("a fixed IP is", "a DNS server is"))
        if len(set(self.dns)) != len(self.dns):
            raise _Problem("dns.1", f"{self.dns[1]} is given twice")
        return self


class DhcpPool(_Section):
    """The addresses the box's DHCP server hands out on the LAN, from start to end."""

    start: IPv4
    end: IPv4
    lease_s: Seconds = 86400


class StaticLease(_Section):
    """One device that always gets the same LAN address; `name` names it on the box."""

    name: EntryName
    mac: Mac
    ip: IPv4


class Lan(_Section):
    """The box's LAN: its own address and prefix, the DHCP pool and the static leases.

    The address is private (RFC 1918). The pool and every static lease sit in the prefix and
    never hold the box's address. A static lease may be inside or outside the pool: the box
    keeps a leased address for its device alone either way.
    """

    address: IPv4
    prefix: PrefixLength
    dhcp: DhcpPool
    static_leases: list[StaticLease] = []

    @field_validator("static_leases", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return [] if value is None else value

    @property
    def network(self) -> netaddr.IPNetwork:
        return netaddr.IPNetwork(f"{self.address}/{self.prefix}")

    @property
    def netmask(self) -> str:
        return str(self.network.netmask)

    def device_problem(self, address: str) -> str | None:
        """Why `address` cannot be a device's address on this LAN, or None when it can."""
        network = self.network
        ip = netaddr.IPAddress(address)
        if ip not in network:
            return f"{address} is not in the LAN {network.cidr}"
        special = _special(ip, network)
        if special:
            return f"{address} is {special}"
        if address == self.address:
            return f"{address} is the box's own address"
        return None

    def _check_device(self, field: str, address: str) -> None:
        problem = self.device_problem(address)
        if problem:
            raise _Problem(field, problem)

    @model_validator(mode="after")
    def _consistent(self) -> Lan:
        ip = netaddr.IPAddress(self.address)
        block = next((block for block in PRIVATE_BLOCKS if ip in block), None)
        if block is None:
            blocks = ", ".join(str(b) for b in PRIVATE_BLOCKS)
            raise _Problem("address", f"{self.address} is not a private address ({blocks})")
        network = self.network
        if network.first < block.first or network.last > block.last:
            raise _Problem(
                "prefix", f"{network.cidr} reaches beyond the private block {block.cidr}"
            )
        special = _special(ip, network)
        if special:
            raise _Problem("address", f"{self.address} is {special}")
        self._check_device("dhcp.start", self.dhcp.start)
        self._check_device("dhcp.end", self.dhcp.end)
        start, end = netaddr.IPAddress(self.dhcp.start), netaddr.IPAddress(self.dhcp.end)
        if start > end:
            raise _Problem("dhcp.end", f"{self.dhcp.end} comes before the start {self.dhcp.start}")
        if start <= ip <= end:
            raise _Problem(
                "dhcp",
                f"the pool {self.dhcp.start} to {self.dhcp.end} holds the box's own address "
                f"{self.address}",
            )
        seen: dict[tuple[str, str], str] = {}  # (field, value) -> name of the lease
        for index, lease in enumerate(self.static_leases):
            where = f"static_leases.{index}"
            self._check_device(f"{where}.ip", lease.ip)
            for field in ("name", "mac", "ip"):
                value = getattr(lease, field)
                other = seen.setdefault((field, value), f"{index}")
                if other != f"{index}":
                    first = self.static_leases[int(other)].name
                    reason = (
                        f"a second lease is named {value!r}"
                        if field == "name"
                        else f"{value} is already the {field} of the lease {first!r}"
                    )
                    raise _Problem(f"{where}.{field}", reason)
        return self


class PortForward(_Section):
    """A port of the WAN forwarded to a LAN device; `name` names it on the box."""

    name: EntryName
    protocol: Annotated[Literal["TCP", "UDP", "BOTH"], BeforeValidator(_upper)] = "TCP"
    external_port: Port
    internal_port: Port
    internal_client: IPv4


class NoAnswer(_Section):
    """Forwarding when the line rings `ring_timeout_s` seconds unanswered."""

    number: ForwardTarget
    ring_timeout_s: Seconds = 20


class Forwarding(_Section):
    """Forwarding of the internet line (footnote 5); null for a kind that is off."""

    unconditional: ForwardTarget | None = None
    busy: ForwardTarget | None = None
    no_answer: NoAnswer | None = None

    @property
    def targets(self) -> dict[str, str]:
        """Field -> number of every forwarding that is on."""
        found = {"unconditional": self.unconditional, "busy": self.busy}
        if self.no_answer is not None:
            found["no_answer.number"] = self.no_answer.number
        return {field: number for field, number in found.items() if number is not None}


# --- The site ----------------------------------------------------------------------------


class Site(_Section):
    """What the technician asks of one box, validated; numbers in E.164, file names read
    from the folder of the site's file.

    `name`, `source` and `groups` say where it was read. Passwords are `SecretStr`: the
    `repr` of a site is masked, and no error quotes them.
    """

    box: Box
    offer: str
    classic_line: ClassicLine
    voip_line: VoipLine
    fixed_ip: FixedIp | None = None
    lan: Lan
    port_forwards: list[PortForward] = []
    forwarding: Forwarding = Forwarding()

    _origin: SiteOrigin = PrivateAttr(default=SiteOrigin("", Path()))

    @field_validator("port_forwards", "forwarding", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object, info: ValidationInfo) -> object:
        if value is None:
            return [] if info.field_name == "port_forwards" else {}
        return value

    @field_validator("offer", mode="before")
    @classmethod
    def _known_offer(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            try:
                _context(info).rules.catalogue.offer(value)
            except UnknownOfferError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _coherent(self, info: ValidationInfo) -> Site:
        offer = _context(info).offer
        if offer is not None:
            problem = self._offer_problem(offer)
            if problem:
                raise problem
        if self.voip_line.directory_number == self.classic_line.number:
            raise _Problem(
                "voip_line.directory_number",
                f"{self.voip_line.directory_number} is the classic line's number; each line "
                "has its own",
            )
        for field, number in self.forwarding.targets.items():
            if number == self.voip_line.directory_number:
                raise _Problem(
                    f"forwarding.{field}",
                    f"{number} is the internet line's own number; a line cannot forward to itself",
                )
        names: dict[str, int] = {}
        taken: list[tuple[int, str, str]] = []  # (external port, protocol, name)
        for index, forward in enumerate(self.port_forwards):
            where = f"port_forwards.{index}"
            if names.setdefault(forward.name, index) != index:
                raise _Problem(f"{where}.name", f"a second port forward is named {forward.name!r}")
            wrong = self.lan.device_problem(forward.internal_client)
            if wrong:
                raise _Problem(f"{where}.internal_client", wrong)
            for port, protocol, name in taken:
                overlap = protocol == forward.protocol or "BOTH" in (protocol, forward.protocol)
                if port == forward.external_port and overlap:
                    raise _Problem(
                        f"{where}.external_port",
                        f"{port}/{protocol} is already forwarded by {name!r}",
                    )
            taken.append((forward.external_port, forward.protocol, forward.name))
        return self

    def _offer_problem(self, offer: Offer) -> _Problem | None:
        if self.fixed_ip is not None and offer.internet.fixed_ip == "none":
            return _Problem("fixed_ip", f"the offer {offer.name} has no fixed IP")
        voip = offer.lines.get(LineName.VOIP)
        if voip is None:
            return _Problem("voip_line", f"the offer {offer.name} has no internet phone line")
        if self.forwarding.targets and FORWARDING_SERVICE not in voip.services:
            return _Problem(
                "forwarding", f"the internet line of {offer.name} has no call forwarding"
            )
        return None

    # --- Where it comes from ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._origin.name

    @property
    def source(self) -> Path:
        """The file the site was read from (a site file or an inventory)."""
        return self._origin.source

    @property
    def groups(self) -> tuple[str, ...]:
        """The inventory groups of the site, parents included, in merge order."""
        return self._origin.groups

    def field_error(self, field: str, reason: str) -> SiteError:
        """A SiteError on one of this site's fields, named as in its file."""
        return SiteError(self.source, self._origin.field_prefix + field, reason)

    def check_offer(self, offer: Offer) -> None:
        """Raise SiteError unless the site is this offer's and asks only what it allows."""
        if offer.name != self.offer:
            raise self.field_error("offer", f"the site is for {self.offer}, not {offer.name}")
        problem = self._offer_problem(offer)
        if problem:
            raise self.field_error(problem.field, problem.reason)

    def target(self, name: str | None = None) -> BoxTarget:
        """Where and how to log in to the box (named after the site unless `name`)."""
        box = self.box
        return BoxTarget(
            name=name or self.name,
            host=box.host,
            port=box.port,
            transport=box.transport,
            user=box.user,
            password=box.password.get_secret_value() if box.password else None,
            key_file=box.key_file,
            known_hosts=box.known_hosts,
            trust_on_first_use=box.trust_on_first_use,
        )


# --- Loading -----------------------------------------------------------------------------


def parse_site(data: Mapping[str, Any], origin: SiteOrigin, rules: SiteRules) -> Site:
    """A site from the fields of a file (already merged, for an inventory host).

    Raises SiteError naming `origin.source`, the field (after `origin.field_prefix`) and the
    reason of the first mistake. Relative file names are read from the source's folder.
    """
    if "name" in data:
        raise SiteError(
            origin.source,
            origin.field_prefix + "name",
            "a site is named by its host in an inventory, or by its file name",
        )
    offer_name = data.get("offer")
    offer = rules.catalogue.offers.get(offer_name) if isinstance(offer_name, str) else None
    context = {"site": _Context(rules, offer, origin.source.parent)}
    try:
        site = Site.model_validate(dict(data), context=context)
    except ValidationError as exc:
        raise _site_error(exc, origin) from None
    site._origin = origin
    return site


def load_site(path: Path, *, rules: SiteRules | None = None) -> Site:
    """The site of a site file, named after the file (`shop-12.yaml` is `shop-12`).

    Raises SiteError naming the file, the field and the reason of the first mistake.
    An inventory (a file with `hosts:`) is refused: read it with `load_inventory`.
    """
    data = read_site_yaml(path)
    if "hosts" in data:
        raise SiteError(path, "hosts", "this is an inventory of sites: load it as an inventory")
    return parse_site(data, SiteOrigin(path.stem, path), rules or SiteRules.load())


def read_site_yaml(path: Path) -> dict[str, Any]:
    """The mapping a site or inventory file holds; SiteError (with the line) when not YAML."""
    try:
        return read_yaml(path)
    except DataFileError as exc:
        raise SiteError(path, exc.field, exc.reason) from None


def _site_error(exc: ValidationError, origin: SiteOrigin) -> SiteError:
    """The first validation error, as a SiteError that never quotes a password."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    cause = error.get("ctx", {}).get("error")
    kind = error["type"]
    if isinstance(cause, _Problem):
        loc += cause.field.split(".")
        reason = cause.reason
    elif kind == "value_error":
        reason = str(cause) if cause is not None else str(error["msg"])
    elif kind == "missing":
        reason = "missing (a required field)"
    elif kind == "extra_forbidden":
        reason = _unknown_field(error["loc"])
    else:
        reason = str(error["msg"])
        read = error.get("input")
        if isinstance(read, bool | int | float | str) and "password" not in loc:
            reason += f" (read {read!r})"
    return SiteError(origin.source, origin.field_prefix + ".".join(loc), reason)


def _unknown_field(loc: Sequence[int | str]) -> str:
    model = _model_at(loc[:-1])
    if model is None:
        return "unknown field"
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    where = ".".join(str(part) for part in loc[:-1] if isinstance(part, str)) or "a site"
    return f"unknown field{hint}; {where} has: {', '.join(known)}"


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    model: type[BaseModel] = Site
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
