"""The box's data model: its paths, its value types and the rules of its file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from profiles.catalogue import DataFileError
from profiles.datamodel import (
    DATAMODEL_FILE,
    MASK,
    CallRejected,
    DataModel,
    ObjectSpec,
    ParameterSpec,
    RuleViolation,
    UnknownPath,
    ValueRejected,
)

TRUNK = "Device.Services.VoiceService.VoiceApplication.VoiceProfile.SIP-Trunk."
LINE = TRUNK + "Line.LINE1."
FEATURES = LINE + "CallingFeatures."


@pytest.fixture(scope="module")
def model() -> DataModel:
    return DataModel.load()


def rewritten(tmp_path: Path, change: Any) -> Path:
    """A copy of the shipped file with one mistake made by `change(data)`."""
    data = yaml.safe_load(DATAMODEL_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "datamodel.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- The paths of the real box -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        TRUNK + "SIP.RegistrarServer",
        TRUNK + "SIP.RegistrarServerPort",
        TRUNK + "SIP.ProxyServer",
        TRUNK + "SIP.ProxyServerPort",
        TRUNK + "SIP.UserAgentDomain",
        TRUNK + "SIP.OutboundProxy",
        TRUNK + "SIP.OutboundProxyPort",
        TRUNK + "SIP.RegisterExpires",
        LINE + "Enable",
        LINE + "DirectoryNumber",
        LINE + "Status",
        LINE + "SIP.URI",
        LINE + "SIP.AuthUserName",
        LINE + "SIP.AuthPassword",
        FEATURES + "CallerIDEnable",
        FEATURES + "CallWaitingEnable",
        FEATURES + "CallForwardUnconditionalEnable",
        FEATURES + "CallForwardUnconditionalNumber",
        FEATURES + "CallForwardOnBusyEnable",
        FEATURES + "CallForwardOnBusyNumber",
        FEATURES + "CallForwardOnNoAnswerEnable",
        FEATURES + "CallForwardOnNoAnswerNumber",
        FEATURES + "CallForwardOnNoAnswerRingTimeout",
        FEATURES + "MWIEnable",
        "Device.DeviceInfo.ModelName",
        "Device.DeviceInfo.UpTime",
        "Device.IP.Interface.2.X_SOFTATHOME-COM_LinkType",
        "Device.IP.Interface.2.IPv4Address.1.AddressingType",
        "Device.Routing.Router.1.IPv4Forwarding.1.GatewayIPAddress",
        "Device.DNS.Client.Server.1.DNSServer",
        "Device.DHCPv4.Server.Pool.1.MinAddress",
        "Device.DHCPv4.Server.Pool.1.StaticAddress.1.Chaddr",
        "Device.NAT.PortMapping.1.ExternalPort",
        "Device.DynamicDNS.Client.1.Password",
        "Device.DSL.Line.1.DownstreamCurrRate",
    ],
)
def test_the_paths_of_the_real_box_are_parameters(model: DataModel, path: str) -> None:
    assert isinstance(model.lookup(path), ParameterSpec)


def test_the_box_says_it_is_a_livebox_pro(model: DataModel) -> None:
    assert model.defaults["Device.DeviceInfo.ModelName"] == "Livebox pro"


def test_line_status_and_box_state_are_read_only(model: DataModel) -> None:
    for path in (LINE + "Status", "Device.DeviceInfo.UpTime", "Device.DSL.Line.1.Status"):
        assert not model.parameter(path).writable
    assert model.parameter("Device.IP.Interface.2.IPv4Address.1.IPAddress").writable


def test_the_sip_password_is_a_write_only_secret(model: DataModel) -> None:
    spec = model.parameter(LINE + "SIP.AuthPassword")
    assert spec.secret
    assert spec.writable
    assert model.is_secret(LINE + "SIP.AuthPassword")
    assert model.is_secret("Device.DynamicDNS.Client.4.Password")
    assert not model.is_secret(LINE + "SIP.AuthUserName")


def test_lookup_matches_an_instance_path_to_its_template(model: DataModel) -> None:
    location = model.locate("Device.NAT.PortMapping.3.ExternalPort")
    assert location.template == "Device.NAT.PortMapping.{i}.ExternalPort"
    assert location.instances == ("Device.NAT.PortMapping.3.",)
    assert location.kind == "parameter"
    assert model.locate("Device.NAT.PortMapping.3.").is_instance
    table = model.locate("Device.NAT.PortMapping.")
    assert table.kind == "table"
    assert isinstance(table.spec, ObjectSpec)
    assert table.spec.max_instances == 32


def test_static_leases_are_a_table_inside_the_dhcp_pool(model: DataModel) -> None:
    location = model.locate("Device.DHCPv4.Server.Pool.1.StaticAddress.7.Yiaddr")
    assert location.template == "Device.DHCPv4.Server.Pool.1.StaticAddress.{i}.Yiaddr"
    assert "Device.DHCPv4.Server.Pool.1.StaticAddress." in model.tables


def test_an_instance_number_is_a_plain_number(model: DataModel) -> None:
    for number in ("0", "01", "x", "-1", "²"):
        with pytest.raises(UnknownPath, match="not an instance number"):
            model.lookup(f"Device.NAT.PortMapping.{number}.ExternalPort")


def test_an_unknown_name_suggests_the_close_one(model: DataModel) -> None:
    with pytest.raises(UnknownPath) as error:
        model.lookup("Device.NAT.PortMaping.1.ExternalPort")
    assert str(error.value) == (
        "Device.NAT.PortMaping.1.ExternalPort: no 'PortMaping' in Device.NAT. "
        "(did you mean PortMapping?)"
    )


def test_objects_end_with_a_dot_and_parameters_do_not(model: DataModel) -> None:
    with pytest.raises(UnknownPath, match=re.escape("write it with a final '.'")):
        model.lookup("Device.DeviceInfo")
    with pytest.raises(UnknownPath, match=re.escape("without the final '.'")):
        model.lookup("Device.DeviceInfo.UpTime.")
    with pytest.raises(UnknownPath, match=re.escape("paths start with 'Device.'")):
        model.lookup("InternetGatewayDevice.DeviceInfo.")


def test_the_parameters_of_an_object_come_in_file_order(model: DataModel) -> None:
    names = [spec.name for spec in model.parameters("Device.NAT.PortMapping.2.")]
    assert names[:4] == ["Alias", "Enable", "Description", "Protocol"]
    assert [s.name for s in model.parameters("Device.NAT.PortMapping.{i}.")] == names


def test_a_new_instance_gets_the_defaults_but_not_the_required_values(model: DataModel) -> None:
    assert model.instance_defaults("Device.NAT.PortMapping.{i}.") == {
        "Enable": "1",
        "Description": "",
        "Protocol": "TCP",
        "RemoteHost": "",
    }


def test_the_shipped_model_is_loaded_once_and_shared() -> None:
    assert DataModel.load() is DataModel.load()


# --- Value types ---------------------------------------------------------------------------------


def test_a_port_out_of_range_names_path_value_and_range(model: DataModel) -> None:
    with pytest.raises(ValueRejected) as error:
        model.convert("Device.NAT.PortMapping.1.ExternalPort", "70000")
    assert str(error.value) == (
        "Device.NAT.PortMapping.1.ExternalPort: '70000' is not a port (1 to 65535)"
    )
    assert error.value.path == "Device.NAT.PortMapping.1.ExternalPort"
    assert error.value.value == "70000"


@pytest.mark.parametrize(
    ("path", "text", "canonical"),
    [
        (FEATURES + "CallWaitingEnable", "true", "1"),
        (FEATURES + "CallWaitingEnable", "FALSE", "0"),
        (FEATURES + "CallWaitingEnable", "1", "1"),
        (FEATURES + "CallForwardOnNoAnswerRingTimeout", "030", "30"),
        ("Device.NAT.PortMapping.1.ExternalPort", " 8080 ", "8080"),
        ("Device.NAT.PortMapping.1.Protocol", "udp", "UDP"),
        (
            "Device.DHCPv4.Server.Pool.1.StaticAddress.1.Chaddr",
            "00-1A-2B-3C-4D-5E",
            "00:1a:2b:3c:4d:5e",
        ),
        ("Device.DHCPv4.Server.Pool.1.StaticAddress.1.Chaddr", "001A2B3C4D5E", "00:1a:2b:3c:4d:5e"),
        (TRUNK + "SIP.RegistrarServer", "SIP.Example.NET.", "sip.example.net"),
        (TRUNK + "SIP.RegistrarServer", "127.0.0.1", "127.0.0.1"),
        (FEATURES + "CallForwardUnconditionalNumber", "06 12 34 56 78", "0612345678"),
        (FEATURES + "CallForwardUnconditionalNumber", "+33612345678", "+33612345678"),
        (
            "Device.DynamicDNS.Client.1.LastUpdate",
            "2026-10-05T11:00:00+02:00",
            "2026-10-05T09:00:00Z",
        ),
        (
            "Device.IP.Interface.2.X_SOFTATHOME-COM_DNSServers",
            "80.10.246.2, 81.253.149.9",
            "80.10.246.2,81.253.149.9",
        ),
        ("Device.IP.Interface.2.IPv4Address.1.SubnetMask", "255.255.255.248", "255.255.255.248"),
        ("Device.IP.Interface.2.IPv4Address.1.IPAddress", "", ""),
        (LINE + "SIP.URI", "sip:+33145000000@sip.example.net", "sip:+33145000000@sip.example.net"),
    ],
)
def test_values_are_written_back_in_their_canonical_form(
    model: DataModel, path: str, text: str, canonical: str
) -> None:
    assert model.convert(path, text) == canonical


@pytest.mark.parametrize(
    ("path", "text", "reason"),
    [
        (FEATURES + "CallWaitingEnable", "yes", "is not a boolean (1, 0, true or false)"),
        (FEATURES + "CallForwardOnNoAnswerRingTimeout", "121", "is not a whole number (5 to 120)"),
        (FEATURES + "CallForwardOnNoAnswerRingTimeout", "1e3", "is not a whole number (5 to 120)"),
        ("Device.NAT.PortMapping.1.ExternalPort", "0", "is not a port (1 to 65535)"),
        ("Device.NAT.PortMapping.1.ExternalPort", "", "is empty; this parameter needs a value"),
        ("Device.NAT.PortMapping.1.Protocol", "SCTP", "is not one of TCP, UDP, BOTH"),
        ("Device.NAT.PortMapping.1.InternalClient", "192.168.1.256", "is not an IPv4 address"),
        ("Device.NAT.PortMapping.1.InternalClient", "192.168.001.2", "is not an IPv4 address"),
        ("Device.IP.Interface.2.IPv4Address.1.SubnetMask", "255.0.255.0", "is not a subnet mask"),
        ("Device.DHCPv4.Server.Pool.1.StaticAddress.1.Chaddr", "00:1a:2b:3c:4d", "is not a MAC"),
        (TRUNK + "SIP.RegistrarServer", "sip_server.example", "is not a host name"),
        (TRUNK + "SIP.RegistrarServer", "300.1.1.1", "is not a host name"),
        (FEATURES + "CallForwardUnconditionalNumber", "*21*0612345678#", "is not a phone number"),
        (FEATURES + "CallForwardUnconditionalNumber", "#31#", "is not a phone number"),
        ("Device.DynamicDNS.Client.1.LastUpdate", "2026-10-05 09:00", "is not an ISO 8601"),
        (LINE + "SIP.URI", "+33145000000@sip.example.net", "is not a SIP URI"),
        ("Device.NAT.PortMapping.1.Description", "x" * 257, "is longer than 256 characters"),
        ("Device.NAT.PortMapping.1.Description", "web\nserver", "contains a control character"),
    ],
)
def test_a_refused_value_says_why(model: DataModel, path: str, text: str, reason: str) -> None:
    with pytest.raises(ValueRejected) as error:
        model.convert(path, text)
    assert str(error.value).startswith(f"{path}: ")
    assert reason in str(error.value)


def test_a_long_value_is_cut_short_in_the_message(model: DataModel) -> None:
    with pytest.raises(ValueRejected) as error:
        model.convert("Device.NAT.PortMapping.1.Description", "x" * 300)
    assert "x" * 77 + "..." in str(error.value)
    assert "x" * 78 not in str(error.value)


def test_a_secret_never_appears_in_a_rejection(model: DataModel) -> None:
    secret = "Sup3r-S3cret-" + "x" * 200
    with pytest.raises(ValueRejected) as error:
        model.convert(LINE + "SIP.AuthPassword", secret)
    assert "Sup3r" not in str(error.value)
    assert "Sup3r" not in repr(error.value)
    assert error.value.value == MASK
    assert "(hidden value) is longer than 128 characters" in str(error.value)


def test_a_read_only_parameter_refuses_writes(model: DataModel) -> None:
    assert model.convert(LINE + "Status", "Up") == "Up"
    with pytest.raises(ValueRejected) as error:
        model.check_write(LINE + "Status", "Up")
    assert str(error.value) == (
        f"{LINE}Status: 'Up' is refused: the parameter is read-only (state the box sets itself)"
    )


def test_provisioning_checks_a_desired_state_before_connecting(model: DataModel) -> None:
    desired = {
        "Device.IP.Interface.2.IPv4Address.1.AddressingType": "static",
        "Device.IP.Interface.2.IPv4Address.1.IPAddress": "203.0.113.10",
        FEATURES + "CallForwardOnBusyEnable": "true",
    }
    assert model.check_writes(desired) == {
        "Device.IP.Interface.2.IPv4Address.1.AddressingType": "Static",
        "Device.IP.Interface.2.IPv4Address.1.IPAddress": "203.0.113.10",
        FEATURES + "CallForwardOnBusyEnable": "1",
    }
    with pytest.raises(ValueRejected, match=re.escape("203.0.113.300")):
        model.check_writes([("Device.IP.Interface.2.IPv4Address.1.IPAddress", "203.0.113.300")])


# --- Rules between parameters --------------------------------------------------------------------


def test_forwarding_on_no_answer_needs_a_number(model: DataModel) -> None:
    values = dict(model.defaults)
    values[FEATURES + "CallForwardOnNoAnswerEnable"] = "1"
    with pytest.raises(RuleViolation) as error:
        model.check_rules(values)
    assert str(error.value) == (
        f"{FEATURES}: forwarding on no answer needs a number "
        "(CallForwardOnNoAnswerEnable=1, but CallForwardOnNoAnswerNumber is not set)"
    )
    values[FEATURES + "CallForwardOnNoAnswerNumber"] = "0612345678"
    model.check_rules(values)


def test_a_fixed_ip_needs_its_address_mask_gateway_and_dns(model: DataModel) -> None:
    values = dict(model.defaults)
    values["Device.IP.Interface.2.IPv4Address.1.AddressingType"] = "Static"
    values["Device.IP.Interface.2.IPv4Address.1.IPAddress"] = "203.0.113.10"
    with pytest.raises(
        RuleViolation, match=re.escape("SubnetMask, Routing.Router.1.IPv4Forwarding.1.Gate")
    ):
        model.check_rules(values)


def test_the_shipped_defaults_keep_the_rules(model: DataModel) -> None:
    model.check_rules(model.defaults)


# --- Methods -------------------------------------------------------------------------------------


def test_a_method_call_gets_its_defaults_and_typed_arguments(model: DataModel) -> None:
    assert model.check_call("Device.Reboot()", {}) == {"Reason": "Manual", "Delay": "0"}
    assert model.check_call("Device.Reboot", {"Delay": "060"}) == {
        "Reason": "Manual",
        "Delay": "60",
    }
    assert model.method("Device.FactoryReset()").arguments == {}


def test_a_method_call_with_a_bad_argument_says_which(model: DataModel) -> None:
    with pytest.raises(ValueRejected) as error:
        model.check_call("Device.Reboot()", {"Delay": "soon"})
    assert str(error.value) == "Device.Reboot(Delay): 'soon' is not a whole number (0 to 3600)"
    with pytest.raises(CallRejected, match="unknown argument 'Force'; the arguments are: Reason"):
        model.check_call("Device.Reboot()", {"Force": "1"})


def test_an_unknown_method_lists_those_of_the_object(model: DataModel) -> None:
    with pytest.raises(UnknownPath, match=r"no such method; Device\. has Reboot\(\), Factory"):
        model.method("Device.Restart()")
    with pytest.raises(UnknownPath, match=re.escape("Device.DeviceInfo. has no methods")):
        model.method("Device.DeviceInfo.Reboot()")


# --- The file ------------------------------------------------------------------------------------


def test_a_bad_type_names_the_file_and_the_field(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["objects"]["Device.NAT.PortMapping.{i}."]["parameters"]["ExternalPort"]["type"] = (
            "tcp-port"
        )

    path = rewritten(tmp_path, change)
    with pytest.raises(DataFileError) as error:
        DataModel.load(path)
    assert error.value.path == path
    assert error.value.field == "objects.Device.NAT.PortMapping.{i}..parameters.ExternalPort.type"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda d: d["objects"]["Device.DeviceInfo."]["parameters"]["UpTime"].update(
                default="x"
            ),
            "the default 'x' is not a whole number",
        ),
        (
            lambda d: d["objects"]["Device.IP.Interface.1."]["parameters"]["Enable"].update(
                default="true"
            ),
            "write the default in its canonical form '1'",
        ),
        (
            lambda d: d["objects"]["Device.NAT.PortMapping.{i}."].pop("max_instances"),
            "a table ({i}) needs max_instances",
        ),
        (
            lambda d: d["objects"]["Device.NAT.PortMapping.{i}."]["parameters"].pop("Alias"),
            "needs a read-write string parameter Alias",
        ),
        (
            lambda d: d["objects"]["Device.DeviceInfo."]["parameters"]["SerialNumber"].update(
                required=True, default=None
            ),
            "a required is read-write",
        ),
        (
            lambda d: d["objects"]["Device.NAT.PortMapping.{i}."]["parameters"]["Protocol"].update(
                values=[]
            ),
            "an enum needs a list of distinct values",
        ),
        (
            lambda d: d["objects"][FEATURES]["rules"][0].update(require=["CallForwardNumber"]),
            "CallForwardNumber is not a parameter of the model",
        ),
        (
            lambda d: d["objects"].update({"Device.NAT.PortMapping.1.": {}}),
            "Device.NAT.PortMapping. is a table; its entries are {i}",
        ),
        (
            lambda d: d["objects"]["Device.DeviceInfo."]["parameters"]["UpTime"].update(
                pattern="x"
            ),
            "'max_length' and 'pattern' are for strings and secrets, not unsigned",
        ),
    ],
)
def test_a_broken_data_model_file_says_why(tmp_path: Path, change: Any, reason: str) -> None:
    with pytest.raises(DataFileError) as error:
        DataModel.load(rewritten(tmp_path, change))
    assert reason in str(error.value)
    assert str(tmp_path) in str(error.value)
