"""The sysbus HTTP management interface of an emulated Livebox pro (`POST /ws`, ws JSON calls).

Protocol, as the real box and the `aiosysbus` 1.2.6 client have it:

- `createContext` (service `sah.Device.Information`, sent with `Authorization: X-Sah-Login`,
  not required) checks the admin credentials and answers at top level `{"status": 0,
  "data": {"contextID", "username", "groups"}}`, with a `<serial>/sessid` cookie that nothing
  requires (nor the malformed `Cookie` header aiosysbus sends back). Later calls carry the
  context in `X-Context` (or `Authorization: X-Sah <context>`); a context lapses after
  `context_idle_s` of the box's clock without use, the oldest goes when `max_contexts` are open,
  and a reboot drops them all. `releaseContext` (`Authorization: X-Sah-Logout <context>`)
  answers `{"status": 0}` at top level.
- A request sent as `application/x-sah-ws-1-call+json` (aiosysbus) is answered wrapped,
  `{"result": {"status": ..., "data": ...}}`, typed `application/x-sah-ws-1-call+json;
  charset=UTF-8`; any other request (ws-4: the web UI and most clients) unwrapped, typed
  `application/x-sah-ws-4-call+json; charset=UTF-8`. Failures: `"status": null` and an
  `errors` list of `{"error", "description", "info"}`.
- Wrong password: HTTP 200 with error 13 at top level for a ws-1 request (the old firmware's
  answer, and the only one aiosysbus reports as `AuthenticationFailed`), HTTP 401 with the same
  JSON body for any other request (the newer firmware's answer); `refused_login_status` forces
  one of them.
- Unknown or lapsed context: HTTP 200, error 13 "Permission denied" (aiosysbus logs in again).
  Unknown service or method: error 196618 "Object or parameter not found" naming it. Missing
  argument: 196640, one error per argument. A refused value or a refused change: 196639 with a
  description naming the argument and why. Malformed request (not JSON, not an object, no
  service or method, parameters not an object, body over `MAX_BODY` bytes): HTTP 400 or 413,
  error 22 (errno EINVAL, as the box reports EACCES 13) saying what is wrong.
- A write takes effect at once: one candidate of user `sysbus`, committed (so one checkpoint),
  all or nothing. Calls that read the box's live state (`DeviceInfo get`, `NMC getWANStatus`,
  `listTrunks`, `DynDNS getHosts`) refresh it first; the others read what they need directly.
- Any other service is a data-model object, named like the real box names its objects (no
  leading `Device.`, no final dot: `NAT.PortMapping.web`, an instance by number or alias); the
  tree's own form (`Device.NAT.PortMapping.web.`) is accepted too. Where a service is also one
  of the calls below (`DeviceInfo get`), the call answers. Every object answers `get` (its own
  parameters by name, as the real box does; with `depth`, `{"<object path>": {name: value}}` for
  every object down to that many levels, -1 for all), booleans and numbers as JSON ones, secrets
  masked; `set {"parameters": {name: value}}` (as the real box's generic `set`); a table `add
  {"parameters": {...}}` (status: the new instance's path); an instance `delete`. Writes are as
  above: at once, one checkpoint, all or nothing; a read-only parameter or a bad value is 196639
  naming it, an unknown one 196618, a required one left out 196640.

Real-box names against the tree (`PM` = `Device.NAT.PortMapping.{i}.`, `SA` =
`Device.DHCPv4.Server.Pool.1.StaticAddress.{i}.`, `DD` = `Device.DynamicDNS.Client.{i}.`,
`WAN` = `Device.IP.Interface.2.`, `LINE1` = `...VoiceProfile.SIP-Trunk.Line.LINE1.`):

| sysbus name (call)                  | tree                               | note                  |
|-------------------------------------|------------------------------------|-----------------------|
| Manufacturer, ModelName, ProductClass| DeviceInfo. same names            | DeviceInfo get        |
|   Description, SerialNumber, UpTime,|   (UpTime an int)                  |                       |
|   HardwareVersion, SoftwareVersion, |                                    |                       |
|   FirstUseDate, BaseMAC             |                                    | MACs upper case       |
| ManufacturerOUI                     | DeviceInfo.BaseMAC, 3 first octets |                       |
| ExternalIPAddress                   | WAN X_SOFTATHOME-COM_IPAddress     |                       |
| NumberOfReboots                     | (box.reboots)                      |                       |
| WanMode (NMC get)                   | (DSL technology)                   | DSL_DHCP / VDSL_DHCP  |
| OfferName (NMC get)                 | (the offer's title)                |                       |
| LinkType, LinkState,                | WAN X_SOFTATHOME-COM_LinkType,     | getWANStatus; WanState|
|   ConnectionState, IPAddress,       |   _LinkState, _ConnectionState,    | "up" when the link is |
|   RemoteGateway, DNSServers         |   _IPAddress, _RemoteGateway, _DNS.|  up and Bound         |
| Protocol (getWANStatus)             | WAN IPv4Address.1.AddressingType   | DHCP->dhcp, Static->  |
|                                     |                                    |  static               |
| getMIBs dsl, getDSLStats            | (box.dsl.mibs(), box.dsl_stats())  | not through the tree  |
| trunk name, enable (listTrunks)     | SIP-Trunk. Name, Enable            |                       |
| line enable, status, directoryNumber| LINE1 Enable, Status,              | statusInfo: LINE1     |
|                                     |   DirectoryNumber                  | X_LIVEBOX-LAB_Status- |
|                                     |                                    |   Info                |
| getCallList                         | (box.call_list(): the VoIP line's  | [] without telephony  |
|                                     |   last calls)                      |                       |
| id / Id                             | PM Alias                           | "<origin>_<id>"       |
| origin / Origin                     | (PM Alias, before its first "_")   | "webui" when none     |
| description / Description           | PM Description                     |                       |
| protocol / Protocol "6" "17" "6,17" | PM Protocol TCP, UDP, BOTH         |                       |
| externalPort / ExternalPort         | PM ExternalPort                    | one port, no range    |
| internalPort / InternalPort         | PM InternalPort                    |                       |
| destinationIPAddress                | PM InternalClient                  |                       |
| sourcePrefix / SourcePrefix         | PM RemoteHost                      | one address, "" = any |
| enable / Enable, Status             | PM Enable                          | Enabled / Disabled    |
| sourceInterface / SourceInterface   | (always "data", the WAN)           |                       |
| MACAddress (static lease)           | SA Chaddr                          | upper case in replies |
| IPAddress (static lease)            | SA Yiaddr                          | inside the LAN subnet |
| LeasePath (static lease)            | (the SA instance, sysbus style)    |                       |
| service (DynDNS)                    | DD Service                         | No-IP <-> no-ip, ...  |
| hostname, username                  | DD Hostname, Username              |                       |
| password                            | DD Password                        | write-only: masked    |
| enable, status, last_update         | DD Enable, Status, LastUpdate      |                       |
| reason (NMC reboot)                 | Device.Reboot(Reason)              | drops every context   |
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from emulator.box import DEVICE_INFO, WAN, WAN_ADDRESS, EmulatedBox, LoginRefused
from emulator.config import Candidate, ConfigError, NothingToCommit
from emulator.dsl import Technology
from profiles.datamodel import (
    MASK,
    DataModelError,
    Location,
    ObjectSpec,
    ParameterSpec,
    ValueRejected,
    show_value,
)

__all__ = [
    "CONTEXT_IDLE_S",
    "MAX_BODY",
    "MAX_CONTEXTS",
    "OBJECT_CALLS",
    "SYSBUS_USER",
    "CallRefused",
    "Fault",
    "Sysbus",
    "SysbusServer",
    "WsReply",
]

#: Seconds of the box's clock a context lives without being used.
CONTEXT_IDLE_S: Final = 600.0
#: Contexts open at once per box; opening one more closes the least recently used.
MAX_CONTEXTS: Final = 32
#: The largest request body read, in bytes (real calls are well under 1 KiB).
MAX_BODY: Final = 64 * 1024
#: Who the checkpoints of sysbus writes name.
SYSBUS_USER: Final = "sysbus"
GROUPS: Final = "http,admin"
LOGIN_SERVICE: Final = "sah.Device.Information"

WS1: Final = "application/x-sah-ws-1-call+json"
WS1_REPLY: Final = "application/x-sah-ws-1-call+json; charset=UTF-8"
WS4_REPLY: Final = "application/x-sah-ws-4-call+json; charset=UTF-8"

PERMISSION_DENIED: Final = 13
INVALID_REQUEST: Final = 22
NOT_FOUND: Final = 196618
EXECUTION_FAILED: Final = 196639
MISSING_ARGUMENT: Final = 196640
IP_RESERVED: Final = 393221

TRUNK: Final = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk."
LINE1: Final = TRUNK + "Line.LINE1."
PORT_MAPPING: Final = "Device.NAT.PortMapping."
STATIC_ADDRESS: Final = "Device.DHCPv4.Server.Pool.1.StaticAddress."
LAN_ADDRESS: Final = "Device.IP.Interface.1.IPv4Address.1."
DYNDNS: Final = "Device.DynamicDNS.Client."

#: Fields of one getCallList record, as the real box gives them (what `box.call_list` yields).
CALL_RECORD_FIELDS: Final = (
    "remoteNumber",
    "remoteName",
    "terminal",
    "startTime",
    "duration",
    "callType",
    "callOrigin",
    "callDestination",
    "trunkLineNumber",
    "viewed",
    "callId",
)

_NOT_FOUND_TEXT = "Object or parameter not found"
_SHOWN_NAME = 80
_PROTOCOLS = {"6": "TCP", "17": "UDP", "6,17": "BOTH", "17,6": "BOTH"}
_PROTOCOL_NUMBERS = {"TCP": "6", "UDP": "17", "BOTH": "6,17"}
_DYNDNS_SERVICES = {
    "dyndns": "dyndns",
    "no-ip": "No-IP",
    "changeip": "changeip",
    "dtdns": "DtDNS",
    "ovh": "OVH-dynDNS",
    "gnudip": "GnuDIP",
}
_HOME_PAGE = b"<!DOCTYPE html><html><head><title>Livebox pro</title></head><body></body></html>"

_log = logging.getLogger(__name__)

Params = Mapping[str, Any]


# --- Errors and answers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    """One entry of a reply's `errors` list."""

    error: int
    description: str
    info: str

    def as_json(self) -> dict[str, object]:
        return {"error": self.error, "description": self.description, "info": self.info}


class CallRefused(ValueError):
    """A sysbus call the box refuses; `faults` is the reply's errors list, and nothing changed."""

    def __init__(self, faults: Iterable[Fault]) -> None:
        self.faults = tuple(faults)
        super().__init__("; ".join(f"{f.description} ({f.info})" for f in self.faults))


@dataclass(frozen=True, slots=True)
class Answer:
    """A call's success: `status`, and `data` when the real box sends it."""

    status: object
    data: object | None = None


@dataclass(frozen=True, slots=True)
class WsReply:
    """What the interface sends back for one HTTP request."""

    http_status: int
    body: bytes
    content_type: str
    cookie: str | None = None


def _shown(name: str) -> str:
    return name if len(name) <= _SHOWN_NAME else name[: _SHOWN_NAME - 3] + "..."


def _missing(name: str) -> Fault:
    return Fault(MISSING_ARGUMENT, "Missing mandatory argument", name)


def _invalid(name: str, why: str) -> Fault:
    return Fault(EXECUTION_FAILED, f"{name}: {why}", name)


def _not_found(what: str) -> Fault:
    return Fault(NOT_FOUND, _NOT_FOUND_TEXT, _shown(what))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


# --- Arguments -------------------------------------------------------------------------------


def _require(params: Params, names: Sequence[str]) -> None:
    missing = [_missing(name) for name in names if params.get(name) is None]
    if missing:
        raise CallRefused(missing)


def _text(params: Params, name: str) -> str | None:
    """A string argument (whole numbers accepted as their text); None when absent or null."""
    value = params.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    why = f"expected a string or a whole number, got {_json_type(value)}"
    raise CallRefused([_invalid(name, why)])


def _flag(params: Params, name: str) -> str | None:
    """A boolean argument as the tree's text; None when absent or null."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) and value in (0, 1):
        return str(value)
    if isinstance(value, str):
        return value
    raise CallRefused([_invalid(name, f"expected true or false, got {_json_type(value)}")])


def _checked(
    box: EmulatedBox, instance: str, fields: Iterable[tuple[str, str, str | None]]
) -> list[tuple[str, str]]:
    """(tree name, canonical value) of each given (sysbus name, tree name, text), checked
    against the data model; every refused value is reported, none is written."""
    model = box.config.model
    values: list[tuple[str, str]] = []
    faults: list[Fault] = []
    for name, tree_name, text in fields:
        if text is None:
            continue
        path = instance + tree_name
        try:
            values.append((tree_name, model.check_write(path, text)))
        except ValueRejected as exc:
            shown = show_value(text, secret=model.parameter(path).secret)
            faults.append(_invalid(name, f"{shown} {exc.reason}"))
    if faults:
        raise CallRefused(faults)
    return values


def _write(box: EmulatedBox, method: str, change: Callable[[Candidate], object]) -> None:
    """Make one change as the real box does: its own candidate, committed at once."""
    candidate = box.config.session(SYSBUS_USER)
    try:
        change(candidate)
        candidate.commit()
    except NothingToCommit:
        return
    except ConfigError as exc:
        raise CallRefused([Fault(EXECUTION_FAILED, str(exc), method)]) from None
    finally:
        candidate.discard()


# --- Reading the tree ------------------------------------------------------------------------


def _object(box: EmulatedBox, path: str) -> dict[str, str]:
    start = len(path)
    return {key[start:]: value for key, value in box.config.get(path, depth=0)}


def _instances(box: EmulatedBox, table: str) -> dict[str, dict[str, str]]:
    """The instances of a table of plain parameters: instance path -> name -> value."""
    found: dict[str, dict[str, str]] = {}
    start = len(table)
    for key, value in box.config.get(table):
        number, _, name = key[start:].partition(".")
        found.setdefault(f"{table}{number}.", {})[name] = value
    return found


# --- Device, WAN, DSL, voice -----------------------------------------------------------------


def _device_info(sysbus: Sysbus, params: Params) -> Answer:
    box = sysbus.box
    box.refresh()
    info = _object(box, DEVICE_INFO)
    mac = info["BaseMAC"].upper()
    dsl = box.dsl.mibs()["dsl"][box.dsl.name]
    return Answer(
        {
            "Manufacturer": info["Manufacturer"],
            "ManufacturerOUI": mac.replace(":", "")[:6],
            "ModelName": info["ModelName"],
            "Description": info["Description"],
            "ProductClass": info["ProductClass"],
            "SerialNumber": info["SerialNumber"],
            "HardwareVersion": info["HardwareVersion"],
            "SoftwareVersion": info["SoftwareVersion"],
            "RescueVersion": info["SoftwareVersion"],
            "ModemFirmwareVersion": dsl["FirmwareVersion"],
            "EnabledOptions": "",
            "AdditionalHardwareVersion": "",
            "AdditionalSoftwareVersion": "",
            "SpecVersion": "1.1",
            "ProvisioningCode": "",
            "UpTime": int(info["UpTime"]),
            "FirstUseDate": info["FirstUseDate"],
            "DeviceLog": "",
            "VendorConfigFileNumberOfEntries": 1,
            "ManufacturerURL": "http://www.sagemcom.com/",
            "Country": "fr",
            "ExternalIPAddress": box.config.value(WAN + "X_SOFTATHOME-COM_IPAddress"),
            "DeviceStatus": "Up",
            "NumberOfReboots": box.reboots,
            "UpgradeOccurred": False,
            "ResetOccurred": False,
            "RestoreOccurred": False,
            "X_SOFTATHOME-COM_AdditionalSoftwareVersions": "",
            "BaseMAC": mac,
        }
    )


def _wan_mode(box: EmulatedBox) -> str:
    return "VDSL_DHCP" if box.dsl.technology is Technology.VDSL2 else "DSL_DHCP"


def _nmc(sysbus: Sysbus, params: Params) -> Answer:
    box = sysbus.box
    return Answer(
        {
            "WanModeList": "DSL_DHCP;DSL_PPP;VDSL_DHCP;VDSL_PPP",
            "WanMode": _wan_mode(box),
            "Username": "",
            "FactoryResetScheduled": False,
            "ConnectionError": box.dsl.status != "Up",
            "DefaultsLoaded": len(box.config.checkpoints()) == 1,
            "ProvisioningState": "done",
            "OfferType": "Pro",
            "OfferName": box.offer.title,
            "IPTVMode": "Internet",
        }
    )


def _wan_status(sysbus: Sysbus, params: Params) -> Answer:
    box = sysbus.box
    box.refresh()
    wan = _object(box, WAN)
    link_state = wan["X_SOFTATHOME-COM_LinkState"]
    connection = wan["X_SOFTATHOME-COM_ConnectionState"]
    up = link_state == "up" and connection == "Bound"
    static = box.config.value(WAN_ADDRESS + "AddressingType") == "Static"
    return Answer(
        True,
        {
            "WanState": "up" if up else "down",
            "LinkType": wan["X_SOFTATHOME-COM_LinkType"],
            "LinkState": link_state,
            "MACAddress": box.config.value(DEVICE_INFO + "BaseMAC").upper(),
            "Protocol": "static" if static else "dhcp",
            "ConnectionState": connection,
            "LastConnectionError": "None" if up else "ERROR_NO_CARRIER",
            "IPAddress": wan["X_SOFTATHOME-COM_IPAddress"],
            "RemoteGateway": wan["X_SOFTATHOME-COM_RemoteGateway"],
            "DNSServers": wan["X_SOFTATHOME-COM_DNSServers"],
            "IPv6Address": "",
            "IPv6DelegatedPrefix": "",
        },
    )


def _reboot(sysbus: Sysbus, params: Params) -> Answer:
    reason = _text(params, "reason")
    arguments = {} if reason is None else {"Reason": reason}
    try:
        sysbus.box.call("Device.", "Reboot", arguments)
    except ValueRejected as exc:
        raise CallRefused([_invalid("reason", f"{show_value(exc.value)} {exc.reason}")]) from None
    sysbus.forget_contexts()
    return Answer(True)


def _mibs(sysbus: Sysbus, params: Params) -> Answer:
    wanted = _text(params, "mibs")
    _text(params, "flag")
    _text(params, "traverse")
    names = (wanted or "dsl").split()
    unknown = [name for name in names if name != "dsl"]
    if unknown:
        raise CallRefused([_not_found(f"mibs: {name}; this box serves: dsl") for name in unknown])
    return Answer({"dsl": sysbus.box.dsl.mibs()["dsl"]})


def _dsl_stats(sysbus: Sysbus, params: Params) -> Answer:
    return Answer(sysbus.box.dsl.dsl_stats())


def _trunks(sysbus: Sysbus, params: Params) -> Answer:
    box = sysbus.box
    box.refresh()
    trunk = _object(box, TRUNK)
    line = _object(box, LINE1)
    return Answer(
        [
            {
                "name": trunk["Name"],
                "enable": trunk["Enable"],
                "signalingProtocol": "SIP",
                "trunk_lines": [
                    {
                        "name": "LINE1",
                        "enable": line["Enable"],
                        "status": line["Status"],
                        "statusInfo": line.get("X_LIVEBOX-LAB_StatusInfo", ""),
                        "directoryNumber": line["DirectoryNumber"],
                    }
                ],
            }
        ]
    )


def _call_list(sysbus: Sysbus, params: Params) -> Answer:
    # The telephony side fills the log: `box.call_list` is a list of records (fields
    # CALL_RECORD_FIELDS) or a callable returning one; a box without telephony has none.
    source = getattr(sysbus.box, "call_list", None)
    records = source() if callable(source) else source
    return Answer([dict(record) for record in records or ()])


# --- Port forwarding -------------------------------------------------------------------------


def _origin_of(alias: str) -> str:
    origin, underscore, _ = alias.partition("_")
    return origin if underscore else "webui"


def _rule(values: Mapping[str, str]) -> dict[str, object]:
    alias = values["Alias"]
    enabled = values["Enable"] == "1"
    return {
        "Id": alias,
        "Origin": _origin_of(alias),
        "Description": values["Description"],
        "Status": "Enabled" if enabled else "Disabled",
        "SourceInterface": "data",
        "Protocol": _PROTOCOL_NUMBERS[values["Protocol"]],
        "ExternalPort": values["ExternalPort"],
        "ExternalPortEndRange": 0,
        "InternalPort": values["InternalPort"],
        "SourcePrefix": values["RemoteHost"],
        "DestinationIPAddress": values["InternalClient"],
        "DestinationMACAddress": "",
        "LeaseDuration": 0,
        "HairpinNAT": True,
        "SymmetricSNAT": False,
        "UPnPV1Compat": False,
        "Enable": enabled,
    }


def _find_rule(
    rules: Mapping[str, Mapping[str, str]], ident: str, origin: str
) -> tuple[str, Mapping[str, str]] | None:
    for wanted in (ident, f"{origin}_{ident}"):
        for instance, values in rules.items():
            if values["Alias"] == wanted:
                return instance, values
    return None


def _get_port_forwarding(sysbus: Sysbus, params: Params) -> Answer:
    origin = _text(params, "origin")
    rules = [_rule(values) for values in _instances(sysbus.box, PORT_MAPPING).values()]
    return Answer({r["Id"]: r for r in rules if origin is None or r["Origin"] == origin})


def _origin(params: Params) -> str:
    origin = _text(params, "origin") or ""
    if not (origin[:1].isascii() and origin[:1].isalpha()) or not all(
        c.isascii() and (c.isalnum() or c == "-") for c in origin
    ):
        raise CallRefused(
            [_invalid("origin", f"{show_value(origin)} is not a name of letters, digits and '-'")]
        )
    return origin


def _protocol(params: Params) -> str | None:
    text = _text(params, "protocol")
    if text is None:
        return None
    protocol = _PROTOCOLS.get(text.replace(" ", ""))
    if protocol is None:
        raise CallRefused(
            [_invalid("protocol", f"{show_value(text)} is not 6 (TCP), 17 (UDP) or 6,17 (both)")]
        )
    return protocol


def _single_port(params: Params, name: str) -> str | None:
    text = _text(params, name)
    if text is not None and "-" in text.strip("-"):
        raise CallRefused([_invalid(name, f"{show_value(text)}: give one port, not a range")])
    return text


def _source_prefix(params: Params) -> str | None:
    text = _text(params, "sourcePrefix")
    if text is not None and text.endswith("/32"):
        return text.removesuffix("/32")
    if text is not None and "/" in text:
        why = "is a network; this box filters on one source address (or '' for any)"
        raise CallRefused([_invalid("sourcePrefix", f"{show_value(text)} {why}")])
    return text


def _set_port_forwarding(sysbus: Sysbus, params: Params) -> Answer:
    box = sysbus.box
    _require(
        params, ("origin", "sourceInterface", "internalPort", "destinationIPAddress", "protocol")
    )
    origin = _origin(params)
    interface = _text(params, "sourceInterface")
    if interface != "data":
        why = f"{show_value(interface or '')}: only 'data' (the WAN) is forwarded"
        raise CallRefused([_invalid("sourceInterface", why)])
    version = params.get("ipversion")
    if version is not None and version not in (4, "4"):
        raise CallRefused([_invalid("ipversion", "this box forwards IPv4 only (4)")])
    rules = _instances(box, PORT_MAPPING)
    ident = _text(params, "id")
    found = None if ident is None else _find_rule(rules, ident, origin)
    if found is not None:
        instance, alias = found[0], found[1]["Alias"]
    else:
        instance = ""
        taken = {values["Alias"] for values in rules.values()}
        if ident is None:
            numbers = range(1, len(taken) + 2)
            alias = next(f"{origin}_rule{n}" for n in numbers if f"{origin}_rule{n}" not in taken)
        else:
            alias = ident if ident.startswith(origin + "_") else f"{origin}_{ident}"
    internal_port = _single_port(params, "internalPort")
    external_port = _single_port(params, "externalPort")
    if external_port is None and found is None:
        external_port = internal_port
    fields = [
        ("id", "Alias", None if found else alias),
        ("description", "Description", _text(params, "description")),
        ("protocol", "Protocol", _protocol(params)),
        ("externalPort", "ExternalPort", external_port),
        ("internalPort", "InternalPort", internal_port),
        ("destinationIPAddress", "InternalClient", _text(params, "destinationIPAddress")),
        ("sourcePrefix", "RemoteHost", _source_prefix(params)),
        ("enable", "Enable", _flag(params, "enable")),
    ]
    values = _checked(box, PORT_MAPPING + "1.", fields)
    _check_port_free(rules, instance, dict(values))

    def change(candidate: Candidate) -> None:
        if found is not None:
            candidate.set(instance, values)
        else:
            candidate.add(PORT_MAPPING, values)

    _write(box, "setPortForwarding", change)
    for current in _instances(box, PORT_MAPPING).values():
        if current["Alias"] == alias:
            return Answer(alias, {"sourcePort": "", "rule": _rule(current)})
    raise CallRefused([Fault(EXECUTION_FAILED, f"rule {alias} vanished", "setPortForwarding")])


def _check_port_free(
    rules: Mapping[str, Mapping[str, str]], instance: str, new: Mapping[str, str]
) -> None:
    """No two rules forward the same external port for the same protocol."""
    mine = {**rules.get(instance, {}), **new}
    port, protocol = mine.get("ExternalPort"), mine.get("Protocol", "TCP")
    for other, values in rules.items():
        if other == instance or values["ExternalPort"] != port:
            continue
        if "BOTH" in (protocol, values["Protocol"]) or protocol == values["Protocol"]:
            why = f"{port} ({protocol}) is already forwarded by rule {values['Alias']}"
            raise CallRefused([_invalid("externalPort", why)])


def _delete_port_forwarding(sysbus: Sysbus, params: Params) -> Answer:
    box = sysbus.box
    _require(params, ("origin",))
    origin = _origin(params)
    ident = _text(params, "id")
    destination = _text(params, "destinationIPAddress")
    rules = _instances(box, PORT_MAPPING)
    if ident is not None:
        found = _find_rule(rules, ident, origin)
        doomed = [] if found is None else [found[0]]
        what = f"id {ident}"
    elif destination is not None:
        doomed = [
            instance
            for instance, values in rules.items()
            if _origin_of(values["Alias"]) == origin and values["InternalClient"] == destination
        ]
        what = f"destinationIPAddress {destination} of origin {origin}"
    else:
        raise CallRefused([_missing("id")])
    if not doomed:
        raise CallRefused([_not_found(what)])

    def change(candidate: Candidate) -> None:
        for instance in doomed:
            candidate.delete(instance)

    _write(box, "deletePortForwarding", change)
    return Answer(True)


# --- DHCP static leases ----------------------------------------------------------------------


def _lease(instance: str, values: Mapping[str, str]) -> dict[str, object]:
    number = instance[len(STATIC_ADDRESS) : -1]
    return {
        "IPAddress": values["Yiaddr"],
        "MACAddress": values["Chaddr"].upper(),
        "LeasePath": f"DHCPv4.Server.Pool.default.StaticAddress.{number}.",
    }


def _static_leases(sysbus: Sysbus, params: Params) -> Answer:
    leases = _instances(sysbus.box, STATIC_ADDRESS)
    return Answer([_lease(instance, values) for instance, values in leases.items()])


def _check_in_lan(box: EmulatedBox, address: str) -> None:
    lan = _object(box, LAN_ADDRESS)
    network = ipaddress.IPv4Network(f"{lan['IPAddress']}/{lan['SubnetMask']}", strict=False)
    ip = ipaddress.IPv4Address(address)
    if ip not in network:
        why = f"{address} is not in the LAN {network}"
    elif ip in (network.network_address, network.broadcast_address):
        why = f"{address} is not a host address of the LAN {network}"
    elif address == lan["IPAddress"]:
        why = f"{address} is the box's own address"
    else:
        return
    raise CallRefused([_invalid("IPAddress", why)])


def _add_static_lease(sysbus: Sysbus, params: Params) -> Answer:
    box = sysbus.box
    _require(params, ("MACAddress", "IPAddress"))
    fields = [
        ("MACAddress", "Chaddr", _text(params, "MACAddress")),
        ("IPAddress", "Yiaddr", _text(params, "IPAddress")),
    ]
    values = _checked(box, STATIC_ADDRESS + "1.", fields)
    mac, address = dict(values)["Chaddr"], dict(values)["Yiaddr"]
    _check_in_lan(box, address)
    for lease in _instances(box, STATIC_ADDRESS).values():
        if lease["Chaddr"] == mac:
            why = f"{mac.upper()} already has a static lease ({lease['Yiaddr']})"
            raise CallRefused([_invalid("MACAddress", why)])
        if lease["Yiaddr"] == address:
            raise CallRefused(
                [
                    Fault(IP_RESERVED, "IP address already reserved", "IPAddress"),
                    Fault(EXECUTION_FAILED, "Function execution failed", "addStaticLease"),
                ]
            )
    _write(box, "addStaticLease", lambda candidate: candidate.add(STATIC_ADDRESS, values))
    return Answer(True)


def _delete_static_lease(sysbus: Sysbus, params: Params) -> Answer:
    return _delete_by_key(
        sysbus, params, "deleteStaticLease", STATIC_ADDRESS, "MACAddress", "Chaddr"
    )


# --- DynDNS ----------------------------------------------------------------------------------


def _dyndns_services(sysbus: Sysbus, params: Params) -> Answer:
    return Answer(list(_DYNDNS_SERVICES.values()))


def _dyndns_hosts(sysbus: Sysbus, params: Params) -> Answer:
    box = sysbus.box
    box.refresh()
    return Answer(
        [
            {
                "service": _DYNDNS_SERVICES[host["Service"]],
                "hostname": host["Hostname"],
                "username": host["Username"],
                "password": MASK,
                "last_update": host["LastUpdate"],
                "status": host["Status"],
                "enable": host["Enable"] == "1",
            }
            for host in _instances(box, DYNDNS).values()
        ]
    )


def _dyndns_service(params: Params) -> str:
    text = _text(params, "service") or ""
    for tree_name, name in _DYNDNS_SERVICES.items():
        if text.lower() in (tree_name, name.lower()):
            return tree_name
    known = ", ".join(_DYNDNS_SERVICES.values())
    raise CallRefused([_invalid("service", f"{show_value(text)} is not one of {known}")])


def _add_dyndns_host(sysbus: Sysbus, params: Params) -> Answer:
    box = sysbus.box
    _require(params, ("service", "hostname", "username", "password"))
    fields = [
        ("service", "Service", _dyndns_service(params)),
        ("hostname", "Hostname", _text(params, "hostname")),
        ("username", "Username", _text(params, "username")),
        ("password", "Password", _text(params, "password")),
        ("enable", "Enable", _flag(params, "enable")),
    ]
    values = _checked(box, DYNDNS + "1.", fields)
    hostname = dict(values)["Hostname"]
    if any(host["Hostname"] == hostname for host in _instances(box, DYNDNS).values()):
        raise CallRefused([_invalid("hostname", f"{hostname} already has a DynDNS entry")])
    _write(box, "addHost", lambda candidate: candidate.add(DYNDNS, values))
    return Answer(True)


def _delete_dyndns_host(sysbus: Sysbus, params: Params) -> Answer:
    return _delete_by_key(sysbus, params, "delHost", DYNDNS, "hostname", "Hostname")


def _delete_by_key(
    sysbus: Sysbus,
    params: Params,
    method: str,
    table: str,
    argument: str,
    parameter: str,
    shown: Callable[[str], str] = str,
) -> Answer:
    """Delete the entry of `table` whose `parameter` holds the call's `argument` (checked and
    made canonical by the data model first, so that any spelling of it finds the entry)."""
    box = sysbus.box
    _require(params, (argument,))
    text = _text(params, argument)
    key = dict(_checked(box, table + "1.", [(argument, parameter, text)]))[parameter]
    doomed = [i for i, entry in _instances(box, table).items() if entry[parameter] == key]
    if not doomed:
        raise CallRefused([_not_found(f"{argument} {shown(key)}")])
    _write(box, method, lambda candidate: candidate.delete(doomed[0]))
    return Answer(True)


# --- Data-model objects: generic get, set, add, delete -------------------------------------------


def _object_path(service: str) -> str:
    """The tree path a service names: `NAT.PortMapping.web`, `Device.NAT.PortMapping.web` and
    both with a final '.' all name `Device.NAT.PortMapping.web.`."""
    path = service if service == "Device" or service.startswith("Device.") else "Device." + service
    return path if path.endswith(".") else path + "."


def _alias_number(box: EmulatedBox, table: str, alias: str) -> str | None:
    try:
        rows = box.config.get(table, depth=1)
    except ConfigError:
        return None
    for key, value in rows:
        if value == alias and key.endswith(".Alias"):
            number = key[len(table) : -len(".Alias")]
            if number.isdigit():
                return number
    return None


def _locate(box: EmulatedBox, service: str) -> tuple[str, Location]:
    """The concrete path (instance aliases replaced by numbers) of the object a service names,
    and where it sits in the model; 196618 when the box has no such object."""
    if not service or service.startswith("."):
        raise CallRefused([_not_found(service)])
    model = box.config.model
    path = ""
    location: Location | None = None
    for segment in _object_path(service)[:-1].split("."):
        step = f"{path}{segment}."
        try:
            location = model.locate(step)
        except DataModelError:
            number = None
            if location is not None and location.kind == "table":
                number = _alias_number(box, path, segment)
            if number is None:
                raise CallRefused([_not_found(service)]) from None
            step = f"{path}{number}."
            location = model.locate(step)
        path = step
    assert location is not None
    if location.kind == "parameter":
        raise CallRefused([_not_found(service)])
    try:
        # Refused when an instance on the way does not exist.
        box.config.get(path, depth=0)
    except ConfigError:
        raise CallRefused([_not_found(service)]) from None
    return path, location


def _typed(spec: ParameterSpec, text: str) -> object:
    """A value as the real box sends it: booleans and numbers as JSON ones, the rest text."""
    if spec.type == "boolean":
        return text == "1"
    if spec.type in ("int", "unsigned", "port") and text:
        return int(text)
    return text


def _depth(params: Params) -> int | None:
    value = params.get("depth")
    if value is None:
        return None
    if isinstance(value, str):
        with suppress(ValueError):
            value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= -1:
        return value
    why = (
        f"expected -1 (everything below), 0 (the object itself) or a number of levels, "
        f"got {show_value(value) if isinstance(value, str) else _json_type(value)}"
    )
    raise CallRefused([_invalid("depth", why)])


def _object_get(sysbus: Sysbus, service: str, params: Params) -> Answer:
    """`get`: without `depth`, the object's own parameters by name (as the real box answers);
    with `depth`, every object down to that many levels below (-1: all), by object path."""
    depth = _depth(params)
    box = sysbus.box
    path, _ = _locate(box, service)
    box.refresh()
    levels = 0 if depth is None else None if depth < 0 else depth
    rows = box.config.get(path, depth=levels)
    model = box.config.model
    if depth is None:
        start = len(path)
        return Answer({key[start:]: _typed(model.parameter(key), value) for key, value in rows})
    objects: dict[str, dict[str, object]] = {}
    for key, value in rows:
        owner, _, name = key.rpartition(".")
        objects.setdefault(owner + ".", {})[name] = _typed(model.parameter(key), value)
    return Answer(objects)


def _parameter_text(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    why = f"expected a string, a whole number or true/false, got {_json_type(value)}"
    raise CallRefused([_invalid(_shown(name), why)])


def _given(params: Params, *, required: bool) -> dict[str, Any]:
    """The `parameters` argument: an object of parameter names and values."""
    given = params.get("parameters")
    if given is None and required:
        raise CallRefused([_missing("parameters")])
    if given is None:
        return {}
    if not isinstance(given, dict):
        why = f"expected an object of parameter names and values, got {_json_type(given)}"
        raise CallRefused([_invalid("parameters", why)])
    if required and not given:
        raise CallRefused([_invalid("parameters", "is empty: give at least one parameter")])
    return given


def _object_values(
    box: EmulatedBox, instance: str, given: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(name, canonical value) of each given parameter of `instance`, checked as writes; every
    refused one is reported, none is written."""
    model = box.config.model
    values: list[tuple[str, str]] = []
    faults: list[Fault] = []
    for name, value in given.items():
        try:
            text = _parameter_text(name, value)
        except CallRefused as exc:
            faults.extend(exc.faults)
            continue
        path = instance + name
        try:
            values.append((name, model.check_write(path, text)))
        except ValueRejected as exc:
            shown = show_value(text, secret=model.parameter(path).secret)
            faults.append(_invalid(_shown(name), f"{shown} {exc.reason}"))
        except DataModelError:
            faults.append(_not_found(name))
    if faults:
        raise CallRefused(faults)
    return values


def _object_set(sysbus: Sysbus, service: str, params: Params) -> Answer:
    """`set {"parameters": {...}}`: the object's parameters, at once, all or none."""
    box = sysbus.box
    given = _given(params, required=True)
    path, location = _locate(box, service)
    if location.kind == "table":
        why = f"{path} is a table: set the parameters of one of its instances (as {path}1.)"
        raise CallRefused([Fault(EXECUTION_FAILED, why, "set")])
    values = _object_values(box, path, given)
    _write(box, "set", lambda candidate: candidate.set(path, values))
    return Answer(True)


def _object_add(sysbus: Sysbus, service: str, params: Params) -> Answer:
    """`add {"parameters": {...}}` on a table: a new instance; its path is the status."""
    box = sysbus.box
    given = _given(params, required=False)
    path, location = _locate(box, service)
    if location.kind != "table":
        tables = ", ".join(sorted(box.config.model.tables))
        why = f"{path} is not a table; instances are added to {tables}"
        raise CallRefused([Fault(EXECUTION_FAILED, why, "add")])
    entry = location.spec
    assert isinstance(entry, ObjectSpec)
    missing = [
        _missing(spec.name)
        for spec in box.config.model.parameters(entry.path)
        if spec.required and spec.name not in given
    ]
    if missing:
        raise CallRefused(missing)
    values = _object_values(box, path + "1.", given)
    added: list[str] = []
    _write(box, "add", lambda candidate: added.append(candidate.add(path, values)))
    instance = added[0]
    alias = box.config.value(instance + "Alias")
    return Answer(instance, {"index": int(instance[len(path) : -1]), "name": alias})


def _object_delete(sysbus: Sysbus, service: str, params: Params) -> Answer:
    """`delete` on an instance (by number or alias) with everything below it."""
    box = sysbus.box
    path, location = _locate(box, service)
    if not location.is_instance:
        why = f"{path} is not an instance of a table (as Device.NAT.PortMapping.1.)"
        raise CallRefused([Fault(EXECUTION_FAILED, why, "delete")])
    _write(box, "delete", lambda candidate: candidate.delete(path))
    return Answer(True)


ObjectCall = Callable[["Sysbus", str, Params], Answer]

#: The methods every data-model object answers (when no specific call of CALLS does).
OBJECT_CALLS: Final[Mapping[str, ObjectCall]] = {
    "get": _object_get,
    "set": _object_set,
    "add": _object_add,
    "delete": _object_delete,
}


Call = Callable[["Sysbus", Params], Answer]

#: service -> method -> what answers it.
CALLS: Final[Mapping[str, Mapping[str, Call]]] = {
    "DeviceInfo": {"get": _device_info},
    "NMC": {"get": _nmc, "getWANStatus": _wan_status, "reboot": _reboot},
    "NeMo.Intf.data": {"getMIBs": _mibs},
    "NeMo.Intf.dsl0": {"getMIBs": _mibs, "getDSLStats": _dsl_stats},
    "VoiceService.VoiceApplication": {"listTrunks": _trunks, "getCallList": _call_list},
    "Firewall": {
        "getPortForwarding": _get_port_forwarding,
        "setPortForwarding": _set_port_forwarding,
        "deletePortForwarding": _delete_port_forwarding,
    },
    "DHCPv4.Server.Pool.default": {
        "getStaticLeases": _static_leases,
        "addStaticLease": _add_static_lease,
        "deleteStaticLease": _delete_static_lease,
    },
    "DynDNS": {
        "getServices": _dyndns_services,
        "getHosts": _dyndns_hosts,
        "addHost": _add_dyndns_host,
        "delHost": _delete_dyndns_host,
    },
}


# --- The protocol ----------------------------------------------------------------------------


def _dumps(document: object) -> bytes:
    # ASCII escapes keep any text a client sent (even a lone surrogate) encodable.
    return json.dumps(document, separators=(",", ":")).encode("ascii")


class Sysbus:
    """The box's sysbus: its contexts and the calls it answers, without the HTTP transport."""

    def __init__(
        self,
        box: EmulatedBox,
        *,
        context_idle_s: float = CONTEXT_IDLE_S,
        max_contexts: int = MAX_CONTEXTS,
        refused_login_status: int | None = None,
    ) -> None:
        if refused_login_status not in (None, 200, 401):
            raise ValueError(
                f"refused_login_status {refused_login_status!r}: give 200, 401 or None "
                "(None: 200 to ws-1 requests, 401 to the others)"
            )
        if context_idle_s <= 0 or max_contexts < 1:
            raise ValueError("context_idle_s must be above 0 and max_contexts at least 1")
        self.box = box
        self.context_idle_s = context_idle_s
        self.max_contexts = max_contexts
        self.refused_login_status = refused_login_status
        #: How many contexts were created (successful logins).
        self.logins = 0
        # Least recently used first: context -> when it was last used (box clock).
        self._contexts: OrderedDict[str, float] = OrderedDict()

    @property
    def contexts(self) -> int:
        """How many contexts are open now."""
        self._lapse()
        return len(self._contexts)

    def forget_contexts(self) -> None:
        """Drop every context (the box rebooted): clients must log in again."""
        self._contexts.clear()

    def answer(
        self,
        body: bytes | None,
        *,
        content_type: str = WS1,
        authorization: str = "",
        context: str = "",
    ) -> WsReply:
        """The reply to one `POST /ws`; `body` None means it was over MAX_BODY bytes."""
        wrapped = content_type.lower().startswith(WS1)
        reply_type = WS1_REPLY if wrapped else WS4_REPLY
        if body is None:
            why = f"Invalid request: the body is over {MAX_BODY} bytes"
            return self._malformed(413, why, reply_type)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return self._malformed(
                400, f"Invalid request: the body is not JSON ({exc})", reply_type
            )
        if not isinstance(document, dict):
            why = f"Invalid request: the body is {_json_type(document)}, not a JSON object"
            return self._malformed(400, why, reply_type)
        service, method = document.get("service"), document.get("method")
        params = document.get("parameters")
        for name, value in (("service", service), ("method", method)):
            if not isinstance(value, str):
                why = f"Invalid request: '{name}' must be a string, not {_json_type(value)}"
                return self._malformed(400, why, reply_type)
        if params is None:
            params = {}
        elif not isinstance(params, dict):
            shown = _json_type(params)
            why = f"Invalid request: 'parameters' must be an object or null, not {shown}"
            return self._malformed(400, why, reply_type)
        assert isinstance(service, str)
        assert isinstance(method, str)
        if service == LOGIN_SERVICE and method == "createContext":
            return self._login(params, wrapped, reply_type)
        if service == LOGIN_SERVICE and method == "releaseContext":
            return self._logout(authorization, context, reply_type)
        if not self._use(_context_of(authorization, context)):
            denied = Fault(PERMISSION_DENIED, "Permission denied", _shown(service))
            return self._failure(200, [denied], wrapped, reply_type)
        methods = CALLS.get(service)
        call = None if methods is None else methods.get(method)
        generic = OBJECT_CALLS.get(method)
        if call is None and generic is None:
            missing = _not_found(service if methods is None else method)
            return self._failure(200, [missing], wrapped, reply_type)
        try:
            if call is not None:
                result = call(self, params)
            else:
                assert generic is not None
                # Any other service is a data-model object path (`NAT.PortMapping.web`).
                result = generic(self, service, params)
        except CallRefused as exc:
            return self._failure(200, exc.faults, wrapped, reply_type)
        _log.debug("%s: %s %s", self.box.name, service, method)
        inner: dict[str, object] = {"status": result.status}
        if result.data is not None:
            inner["data"] = result.data
        return WsReply(200, _dumps({"result": inner} if wrapped else inner), reply_type)

    # --- contexts ---

    def _login(self, params: Params, wrapped: bool, reply_type: str) -> WsReply:
        user, password = params.get("username"), params.get("password")
        missing = [
            _missing(name).as_json()
            for name, value in (("username", user), ("password", password))
            if not isinstance(value, str)
        ]
        if missing:
            return WsReply(200, _dumps({"status": None, "errors": missing}), reply_type)
        assert isinstance(user, str)
        assert isinstance(password, str)
        try:
            self.box.check_login(user, password)
        except LoginRefused:
            _log.info("%s: sysbus login refused for %r", self.box.name, _shown(user))
            status = self.refused_login_status or (200 if wrapped else 401)
            denied = Fault(PERMISSION_DENIED, "Permission denied", LOGIN_SERVICE)
            return WsReply(
                status, _dumps({"status": None, "errors": [denied.as_json()]}), reply_type
            )
        self._lapse()
        while len(self._contexts) >= self.max_contexts:
            self._contexts.popitem(last=False)
        context = secrets.token_urlsafe(24)
        self._contexts[context] = self.box.clock.monotonic()
        self.logins += 1
        data = {"contextID": context, "username": user, "groups": GROUPS}
        cookie = f"{self.box.identity.serial}/sessid={secrets.token_urlsafe(18)}; path=/"
        return WsReply(200, _dumps({"status": 0, "data": data}), reply_type, cookie)

    def _logout(self, authorization: str, context: str, reply_type: str) -> WsReply:
        scheme, _, token = authorization.partition(" ")
        token = token.strip() if scheme == "X-Sah-Logout" else context
        if self._use(token):
            del self._contexts[token]
            return WsReply(200, _dumps({"status": 0}), reply_type)
        denied = Fault(PERMISSION_DENIED, "Permission denied", LOGIN_SERVICE)
        return WsReply(200, _dumps({"status": None, "errors": [denied.as_json()]}), reply_type)

    def _use(self, context: str) -> bool:
        """Whether `context` is open; using it keeps it open another `context_idle_s`."""
        last = self._contexts.get(context) if context else None
        if last is None:
            return False
        now = self.box.clock.monotonic()
        if now - last > self.context_idle_s:
            self._lapse()
            return False
        self._contexts[context] = now
        self._contexts.move_to_end(context)
        return True

    def _lapse(self) -> None:
        # Least recently used first: the lapsed contexts are all at the front.
        deadline = self.box.clock.monotonic() - self.context_idle_s
        contexts = self._contexts
        while contexts and next(iter(contexts.values())) < deadline:
            contexts.popitem(last=False)

    # --- replies ---

    @staticmethod
    def _failure(status: int, faults: Iterable[Fault], wrapped: bool, reply_type: str) -> WsReply:
        inner = {"status": None, "errors": [fault.as_json() for fault in faults]}
        return WsReply(status, _dumps({"result": inner} if wrapped else inner), reply_type)

    @classmethod
    def _malformed(cls, status: int, why: str, reply_type: str) -> WsReply:
        fault = Fault(INVALID_REQUEST, why, "")
        return cls._failure(status, [fault], reply_type == WS1_REPLY, reply_type)


def _context_of(authorization: str, context: str) -> str:
    if context:
        return context.strip()
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme == "X-Sah" else ""


# --- The HTTP server -------------------------------------------------------------------------


async def _read_body(request: web.BaseRequest) -> bytes | None:
    """The request body, or None when it is over MAX_BODY bytes (the rest is not read)."""
    length = request.content_length
    if length is not None:
        return None if length > MAX_BODY else await request.read()
    # Chunked: read no more than one byte past the limit.
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(MAX_BODY + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            return None


class SysbusServer:
    """One box's sysbus on one listening socket: `POST /ws` and the `GET /` that clients
    fetch first. Light enough for thousands of boxes in one process (no thread, one socket
    per box plus one per open client connection).

    >>> async with SysbusServer(box) as server:       # doctest: +SKIP
    ...     print(server.port)
    """

    def __init__(
        self,
        box: EmulatedBox,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        context_idle_s: float = CONTEXT_IDLE_S,
        max_contexts: int = MAX_CONTEXTS,
        refused_login_status: int | None = None,
        keepalive_timeout_s: float = 75.0,
    ) -> None:
        self.sysbus = Sysbus(
            box,
            context_idle_s=context_idle_s,
            max_contexts=max_contexts,
            refused_login_status=refused_login_status,
        )
        self.host = host
        self._wanted_port = port
        self._keepalive_timeout_s = keepalive_timeout_s
        self._web: web.Server | None = None
        self._listener: asyncio.Server | None = None
        self._port: int | None = None

    @property
    def box(self) -> EmulatedBox:
        return self.sysbus.box

    @property
    def port(self) -> int:
        """The bound port (after `start`)."""
        if self._port is None:
            raise RuntimeError(f"the sysbus server of {self.box.name} is not started")
        return self._port

    @property
    def url(self) -> str:
        """Where clients post their calls."""
        return f"http://{self.host}:{self.port}/ws"

    async def start(self) -> None:
        if self._listener is not None:
            raise RuntimeError(f"the sysbus server of {self.box.name} is already started")
        loop = asyncio.get_running_loop()
        self._web = web.Server(
            self._handle, access_log=None, keepalive_timeout=self._keepalive_timeout_s
        )
        self._listener = await loop.create_server(self._web, self.host, self._wanted_port)
        self._port = int(self._listener.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and close every client connection."""
        listener, self._listener = self._listener, None
        web_server, self._web = self._web, None
        if listener is not None:
            listener.close()
        if web_server is not None:
            # Idle keep-alive connections close at once; a call in progress gets a second.
            web_server.pre_shutdown()
            await web_server.shutdown(1.0)
        if listener is not None:
            await listener.wait_closed()
        self._port = None

    async def __aenter__(self) -> SysbusServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            if request.path == "/ws":
                if request.method != "POST":
                    return _plain(405, "only POST is answered on /ws\n", {"Allow": "POST"})
                headers = request.headers
                reply = self.sysbus.answer(
                    await _read_body(request),
                    content_type=headers.get("Content-Type", ""),
                    authorization=headers.get("Authorization", ""),
                    context=headers.get("X-Context", ""),
                )
                out = {"Content-Type": reply.content_type}
                if reply.cookie is not None:
                    # Written by hand: the real name holds a '/', which cookie libraries refuse.
                    out["Set-Cookie"] = reply.cookie
                return web.Response(status=reply.http_status, body=reply.body, headers=out)
            if request.path == "/" and request.method in ("GET", "HEAD"):
                return web.Response(body=_HOME_PAGE, headers={"Content-Type": "text/html"})
            return _plain(404, "not found\n")
        except Exception:
            # Never the parameters: they may hold a password.
            _log.exception("%s: the sysbus request failed", self.box.name)
            fault = Fault(EXECUTION_FAILED, "Internal error of the emulated box", "")
            body = _dumps({"result": {"status": None, "errors": [fault.as_json()]}})
            return web.Response(status=500, body=body, headers={"Content-Type": WS1_REPLY})


def _plain(status: int, text: str, extra: Mapping[str, str] | None = None) -> web.Response:
    headers = {"Content-Type": "text/plain; charset=utf-8", **(extra or {})}
    return web.Response(status=status, body=text.encode(), headers=headers)
