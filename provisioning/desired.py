"""What a site asks of its box as data-model paths and values, checked before connecting."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from profiles.datamodel import MASK, DataModel, DataModelError, ValueRejected, show_value
from profiles.model import Offer
from provisioning.site import Site

WAN_ADDRESSING = "Device.IP.Interface.2.IPv4Address.1."
DEFAULT_ROUTE = "Device.Routing.Router.1.IPv4Forwarding.1."
DNS_SERVERS = ("Device.DNS.Client.Server.1.", "Device.DNS.Client.Server.2.")
LAN_ADDRESS = "Device.IP.Interface.1.IPv4Address.1."
DHCP_SERVER = "Device.DHCPv4.Server."
DHCP_POOL = "Device.DHCPv4.Server.Pool.1."
STATIC_LEASES = "Device.DHCPv4.Server.Pool.1.StaticAddress."
PORT_MAPPINGS = "Device.NAT.PortMapping."
SIP_TRUNK = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk."
VOIP_LINE = SIP_TRUNK + "Line.LINE1."
CALLING_FEATURES = VOIP_LINE + "CallingFeatures."

#: Provisioning owns the table entries whose alias starts with this, and no others.
OWNED_ALIAS_PREFIX = "site-"


@dataclass(frozen=True, slots=True, repr=False)
class DesiredState:
    """What the box should hold once the site is applied.

    - `values`: full parameter path -> canonical text, in data-model order of the site's
      sections; every one checked by `DataModel.check_writes`.
    - `tables`: table path (`Device.NAT.PortMapping.`) -> entry alias -> parameter -> value,
      each entry complete (the entry's defaults filled in) and with its `Alias`, so that it can
      be added as is. Provisioning owns exactly the entries whose alias starts with `site-`
      (OWNED_ALIAS_PREFIX): those of the box that the site does not list are to be deleted, and
      entries with other aliases (made by hand or by the box) are left alone. Every table
      provisioning manages is present, possibly empty ("no site- entry here").
    - `secrets`: the paths of `values` that are write-only (the SIP password): the box reads
      them back as the mask, so the flow cannot compare them by reading; it can only tell a
      set secret from an empty one, and rewrites it when asked to.
    - `exchange`: what the site asks of the operator's exchange rather than of the box: the
      classic line's number and its redirect-on-failure (continuity) number, in E.164 ("" when
      no redirection is asked), for the telephony part of provisioning.
    """

    site: str
    values: dict[str, str]
    tables: dict[str, dict[str, dict[str, str]]]
    secrets: frozenset[str]
    exchange: dict[str, str]

    def __repr__(self) -> str:
        shown = {path: MASK if path in self.secrets else v for path, v in self.values.items()}
        return (
            f"DesiredState(site={self.site!r}, values={shown!r}, tables={self.tables!r}, "
            f"secrets={sorted(self.secrets)!r}, exchange={self.exchange!r})"
        )

    __str__ = __repr__


def desired_state(site: Site, offer: Offer, model: DataModel) -> DesiredState:
    """The paths and values that configure the box as the site asks under this offer.

    Every value is checked against the data model (type, range, read-only) and the rules
    between parameters, before any connection. Raises SiteError naming the site's file and the
    field the faulty value came from (a SIP password is never quoted).

    >>> state = desired_state(site, catalogue.offer(site.offer), DataModel.load())
    >>> state.values["Device.IP.Interface.2.IPv4Address.1.AddressingType"]
    'Static'
    >>> state.tables["Device.NAT.PortMapping."]["site-web"]["ExternalPort"]
    '8080'
    """
    site.check_offer(offer)
    pairs = list(_values(site, model))
    fields = {path: field for path, _, field in pairs}
    try:
        values = model.check_writes((path, value) for path, value, _ in pairs)
        model.check_rules({**model.defaults, **values})
    except DataModelError as exc:
        raise _field_error(site, model, exc, fields) from None
    tables = {
        PORT_MAPPINGS: _check_table(site, model, PORT_MAPPINGS, "port_forwards", _forwards(site)),
        STATIC_LEASES: _check_table(site, model, STATIC_LEASES, "lan.static_leases", _leases(site)),
    }
    secrets = frozenset(path for path in values if model.is_secret(path))
    exchange = {
        "classic_line.number": site.classic_line.number,
        "classic_line.continuity": site.classic_line.continuity or "",
    }
    return DesiredState(site.name, values, tables, secrets, exchange)


# Headings of `describe`, by path prefix (the first that matches).
_HEADINGS = (
    (CALLING_FEATURES, "forwarding of the internet line"),
    (SIP_TRUNK, "internet phone line"),
    (WAN_ADDRESSING, "internet access"),
    (DEFAULT_ROUTE, "internet access"),
    ("Device.DNS.", "internet access"),
    (PORT_MAPPINGS, "port forwards"),
    (STATIC_LEASES, "static leases"),
    ("Device.", "LAN"),
)


def describe(state: DesiredState) -> list[str]:
    """What will be set, as the technician reads it: a heading per part, then one line per
    parameter or table entry; secrets masked.

    >>> print("\n".join(describe(state)[:3]))
    site shop-12:
      internet access:
        Device.IP.Interface.2.IPv4Address.1.AddressingType = Static
    """
    lines = [f"site {state.site}:"]
    heading = ""

    def under(path: str) -> None:
        nonlocal heading
        wanted = next(title for prefix, title in _HEADINGS if path.startswith(prefix))
        if wanted != heading:
            heading = wanted
            lines.append(f"  {heading}:")

    for path, value in state.values.items():
        under(path)
        if path in state.secrets:
            lines.append(f"    {path} = {MASK} (write-only: set, never read back)")
        else:
            lines.append(f"    {path} = {_shown(value)}")
    for table, entries in state.tables.items():
        under(table)
        if not entries:
            lines.append(f"    {table}: no {OWNED_ALIAS_PREFIX}* entry; other entries left alone")
        for alias, entry in entries.items():
            shown = ", ".join(f"{name}={_shown(value)}" for name, value in entry.items())
            lines.append(f"    {table}{alias}. = {{{shown}}}")
    number = state.exchange.get("classic_line.number", "")
    continuity = state.exchange.get("classic_line.continuity", "")
    lines.append("  classic line (at the operator's exchange, not in the box):")
    lines.append(f"    number {number}")
    lines.append(
        f"    redirected on failure to {continuity}" if continuity else "    no redirection"
    )
    return lines


def _shown(value: str) -> str:
    return value if value else '""'


# --- From site fields to paths -----------------------------------------------------------


_Entry = tuple[str, str, str]  # (path, value, the site field it comes from)


def _values(site: Site, model: DataModel) -> Iterator[_Entry]:
    yield from _wan(site)
    yield from _lan(site)
    yield from _voip(site)
    yield from _forwarding(site, model)


def _wan(site: Site) -> Iterator[_Entry]:
    fixed = site.fixed_ip
    if fixed is None:
        # Dynamic addressing, and no stale fixed address, mask, gateway or DNS left behind.
        yield f"{WAN_ADDRESSING}AddressingType", "DHCP", "fixed_ip"
        for path in (f"{WAN_ADDRESSING}IPAddress", f"{WAN_ADDRESSING}SubnetMask"):
            yield path, "", "fixed_ip"
        yield f"{DEFAULT_ROUTE}GatewayIPAddress", "", "fixed_ip"
        for server in DNS_SERVERS:
            yield f"{server}DNSServer", "", "fixed_ip"
        return
    yield f"{WAN_ADDRESSING}AddressingType", "Static", "fixed_ip"
    yield f"{WAN_ADDRESSING}IPAddress", fixed.address, "fixed_ip.address"
    yield f"{WAN_ADDRESSING}SubnetMask", fixed.netmask, "fixed_ip.prefix"
    yield f"{DEFAULT_ROUTE}GatewayIPAddress", fixed.gateway, "fixed_ip.gateway"
    for index, server in enumerate(DNS_SERVERS):
        address = fixed.dns[index] if index < len(fixed.dns) else ""
        yield f"{server}DNSServer", address, f"fixed_ip.dns.{index}" if address else "fixed_ip.dns"


def _lan(site: Site) -> Iterator[_Entry]:
    lan = site.lan
    yield f"{LAN_ADDRESS}IPAddress", lan.address, "lan.address"
    yield f"{LAN_ADDRESS}SubnetMask", lan.netmask, "lan.prefix"
    yield f"{DHCP_SERVER}Enable", "1", "lan.dhcp"
    yield f"{DHCP_POOL}Enable", "1", "lan.dhcp"
    yield f"{DHCP_POOL}MinAddress", lan.dhcp.start, "lan.dhcp.start"
    yield f"{DHCP_POOL}MaxAddress", lan.dhcp.end, "lan.dhcp.end"
    yield f"{DHCP_POOL}SubnetMask", lan.netmask, "lan.prefix"
    yield f"{DHCP_POOL}LeaseTime", str(lan.dhcp.lease_s), "lan.dhcp.lease_s"


def _voip(site: Site) -> Iterator[_Entry]:
    line = site.voip_line
    sip = f"{SIP_TRUNK}SIP."
    yield f"{SIP_TRUNK}Enable", "Enabled", "voip_line"
    yield f"{sip}RegistrarServer", line.registrar, "voip_line.registrar"
    yield f"{sip}RegistrarServerPort", str(line.registrar_port), "voip_line.registrar_port"
    yield f"{sip}ProxyServer", line.proxy, "voip_line.proxy"
    yield f"{sip}ProxyServerPort", str(line.proxy_port), "voip_line.proxy_port"
    yield f"{sip}UserAgentDomain", line.domain, "voip_line.domain"
    yield f"{sip}OutboundProxy", line.outbound_proxy or "", "voip_line.outbound_proxy"
    port = str(line.outbound_proxy_port)
    yield f"{sip}OutboundProxyPort", port, "voip_line.outbound_proxy_port"
    yield f"{VOIP_LINE}Enable", "Enabled", "voip_line"
    yield f"{VOIP_LINE}DirectoryNumber", line.directory_number, "voip_line.directory_number"
    uri = f"sip:{line.sip_user}@{line.domain}"
    yield f"{VOIP_LINE}SIP.URI", uri, "voip_line.sip_user"
    yield f"{VOIP_LINE}SIP.AuthUserName", line.sip_user, "voip_line.sip_user"
    password = line.password.get_secret_value() if line.password else ""
    yield f"{VOIP_LINE}SIP.AuthPassword", password, "voip_line.password"


def _forwarding(site: Site, model: DataModel) -> Iterator[_Entry]:
    forwarding = site.forwarding
    kinds = (
        ("CallForwardUnconditional", forwarding.unconditional, "forwarding.unconditional"),
        ("CallForwardOnBusy", forwarding.busy, "forwarding.busy"),
    )
    for name, number, field in kinds:
        yield f"{CALLING_FEATURES}{name}Enable", "1" if number else "0", field
        yield f"{CALLING_FEATURES}{name}Number", number or "", field
    no_answer = forwarding.no_answer
    prefix = f"{CALLING_FEATURES}CallForwardOnNoAnswer"
    field = "forwarding.no_answer"
    if no_answer is None:
        # Off: the ring timeout goes back to the box's default, so the state is the same
        # whatever was set before.
        yield f"{prefix}Enable", "0", field
        yield f"{prefix}Number", "", field
        yield f"{prefix}RingTimeout", model.defaults[f"{prefix}RingTimeout"], field
        return
    yield f"{prefix}Enable", "1", field
    yield f"{prefix}Number", no_answer.number, f"{field}.number"
    yield f"{prefix}RingTimeout", str(no_answer.ring_timeout_s), f"{field}.ring_timeout_s"


# --- Tables ------------------------------------------------------------------------------


_Rows = dict[str, tuple[dict[str, str], dict[str, str]]]  # alias -> (values, name -> field)


def _forwards(site: Site) -> _Rows:
    rows: _Rows = {}
    for index, forward in enumerate(site.port_forwards):
        where = f"port_forwards.{index}"
        values = {
            "Alias": f"{OWNED_ALIAS_PREFIX}{forward.name}",
            "Enable": "1",
            "Description": forward.name,
            "Protocol": forward.protocol,
            "ExternalPort": str(forward.external_port),
            "InternalPort": str(forward.internal_port),
            "InternalClient": forward.internal_client,
        }
        fields = {
            "Alias": f"{where}.name",
            "Description": f"{where}.name",
            "Protocol": f"{where}.protocol",
            "ExternalPort": f"{where}.external_port",
            "InternalPort": f"{where}.internal_port",
            "InternalClient": f"{where}.internal_client",
        }
        rows[values["Alias"]] = (values, fields)
    return rows


def _leases(site: Site) -> _Rows:
    rows: _Rows = {}
    for index, lease in enumerate(site.lan.static_leases):
        where = f"lan.static_leases.{index}"
        values = {
            "Alias": f"{OWNED_ALIAS_PREFIX}{lease.name}",
            "Enable": "1",
            "Chaddr": lease.mac,
            "Yiaddr": lease.ip,
        }
        fields = {"Alias": f"{where}.name", "Chaddr": f"{where}.mac", "Yiaddr": f"{where}.ip"}
        rows[values["Alias"]] = (values, fields)
    return rows


def _check_table(
    site: Site, model: DataModel, table: str, section: str, rows: _Rows
) -> dict[str, dict[str, str]]:
    """The entries of a table, completed with the entry's defaults and checked as writes."""
    spec = model.lookup(table)
    limit = getattr(spec, "max_instances", None)
    if limit is not None and len(rows) > limit:
        raise site.field_error(section, f"{len(rows)} entries; the box holds at most {limit}")
    defaults = model.instance_defaults(model.template(f"{table}1."))
    checked: dict[str, dict[str, str]] = {}
    for alias, (values, fields) in rows.items():
        entry = values | {name: value for name, value in defaults.items() if name not in values}
        # Checked as the parameters of a first instance: the box numbers entries itself.
        names = {f"{table}1.{name}": name for name in entry}
        try:
            canonical = model.check_writes((f"{table}1.{n}", v) for n, v in entry.items())
        except DataModelError as exc:
            where = {path: fields.get(name, section) for path, name in names.items()}
            raise _field_error(site, model, exc, where) from None
        checked[alias] = {names[path]: value for path, value in canonical.items()}
    return checked


def _field_error(
    site: Site, model: DataModel, exc: DataModelError, fields: dict[str, str]
) -> Exception:
    """The data model's refusal, told on the site field the value came from."""
    field = fields.get(exc.path) or next(
        (name for path, name in fields.items() if path.startswith(exc.path)), ""
    )
    if isinstance(exc, ValueRejected):
        secret = exc.path in fields and model.is_secret(exc.path)
        shown = show_value(exc.value, secret=secret)
        return site.field_error(field, f"{shown} {exc.reason} (the box's {exc.path})")
    return site.field_error(field, str(exc))
