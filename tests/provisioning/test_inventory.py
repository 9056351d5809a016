"""Inventories: defaults < groups < host, --limit patterns, and errors naming host and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import provisioning
from provisioning.inventory import Inventory, load_inventory, merge_layers
from provisioning.site import SiteError, SiteRules

EXAMPLES = Path(provisioning.__file__).parent / "examples"

LoadInventory = Callable[[dict[str, Any]], Inventory]


@pytest.fixture(scope="module")
def rules() -> SiteRules:
    return SiteRules.load()


def site_fields(number: int) -> dict[str, Any]:
    """The fields that differ from one shop to the next."""
    return {
        "box": {"host": f"shop-{number}.boxes.example.net"},
        "classic_line": {"number": f"01 99 00 {number:02d} 00"},
        "voip_line": {"directory_number": f"09 77 42 {number:02d} 00", "sip_user": f"u{number}"},
    }


DEFAULTS: dict[str, Any] = {
    "box": {"password": "admin-pass"},
    "offer": "optimale-pro-equilibre",
    "voip_line": {
        "password": "sip-pass",
        "registrar": "registrar.sip.example.net",
        "proxy": "proxy.sip.example.net",
        "domain": "sip.example.net",
    },
    "lan": {
        "address": "192.168.1.1",
        "prefix": 24,
        "dhcp": {"start": "192.168.1.10", "end": "192.168.1.150"},
    },
}


@pytest.fixture
def inventory(tmp_path: Path, rules: SiteRules) -> LoadInventory:
    def load(data: dict[str, Any]) -> Inventory:
        path = tmp_path / "inventory.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return load_inventory(path, rules=rules)

    return load


def refused(load: LoadInventory, data: dict[str, Any]) -> SiteError:
    with pytest.raises(SiteError) as error:
        load(data)
    return error.value


# --- The examples ------------------------------------------------------------------------


def test_the_example_inventory_loads(monkeypatch: pytest.MonkeyPatch, rules: SiteRules) -> None:
    for variable in ("LIVEBOX_ADMIN_PASSWORD", "SHOP_12_SIP_PASSWORD", "SHOP_13_SIP_PASSWORD"):
        monkeypatch.setenv(variable, f"{variable.lower()}-value")
    inventory = load_inventory(EXAMPLES / "inventory.yaml", rules=rules)
    assert list(inventory.sites) == ["shop-12", "shop-13"]
    shop_12, shop_13 = inventory.sites.values()
    assert shop_12.groups == ("france", "paris")
    assert shop_12.offer == "optimale-pro-equilibre"
    assert shop_12.fixed_ip is not None
    assert (shop_12.fixed_ip.address, shop_12.fixed_ip.gateway) == ("203.0.113.12", "203.0.113.1")
    assert shop_12.target().password == "livebox_admin_password-value"
    assert shop_13.groups == ("france", "lyon", "intense", "sysbus")
    assert shop_13.offer == "optimale-pro-intense"
    assert shop_13.fixed_ip is None
    assert (shop_13.target().transport, shop_13.target().port) == ("sysbus", 80)
    assert shop_13.forwarding.busy == "+33612345613"
    assert shop_13.lan.dhcp.start == "192.168.1.10"
    assert [lease.name for lease in shop_13.lan.static_leases] == ["till"]


def test_a_site_file_is_an_inventory_of_one(
    monkeypatch: pytest.MonkeyPatch, rules: SiteRules
) -> None:
    monkeypatch.setenv("LIVEBOX_ADMIN_PASSWORD", "a")
    monkeypatch.setenv("LIVEBOX_SIP_PASSWORD", "b")
    inventory = load_inventory(EXAMPLES / "site.yaml", rules=rules)
    assert list(inventory.sites) == ["site"]
    assert inventory.sites["site"].groups == ()
    assert inventory.source == EXAMPLES / "site.yaml"


# --- Merging -----------------------------------------------------------------------------


def test_defaults_then_groups_then_the_host(inventory: LoadInventory) -> None:
    loaded = inventory(
        {
            "defaults": {**DEFAULTS, "box": {"password": "p", "user": "from-defaults", "port": 1}},
            "groups": {
                "first": {"box": {"user": "from-first", "port": 2}},
                "second": {"box": {"port": 3}},
            },
            "hosts": {
                "shop-1": {**site_fields(1), "groups": ["first", "second"]},
                "shop-2": {**site_fields(2), "groups": ["second", "first"]},
                "shop-3": site_fields(3) | {"box": {"host": "h", "user": "mine", "port": 4}},
            },
        }
    )
    shop_1, shop_2, shop_3 = (loaded.sites[f"shop-{n}"].box for n in (1, 2, 3))
    assert (shop_1.user, shop_1.port) == ("from-first", 3)  # a later group wins
    assert (shop_2.user, shop_2.port) == ("from-first", 2)
    assert (shop_3.user, shop_3.port) == ("mine", 4)  # the host wins
    assert shop_1.host == "shop-1.boxes.example.net"  # mappings merge key by key


def test_a_group_is_merged_after_its_parents(inventory: LoadInventory) -> None:
    loaded = inventory(
        {
            "defaults": DEFAULTS,
            "groups": {
                "base": {"box": {"port": 2201, "user": "base"}},
                "left": {"groups": ["base"], "box": {"port": 2202}},
                "right": {"groups": ["base"]},
            },
            "hosts": {"shop-1": {**site_fields(1), "groups": ["left", "right"]}},
        }
    )
    site = loaded.sites["shop-1"]
    assert site.groups == ("base", "left", "right")  # a group met twice is merged once
    assert (site.box.port, site.box.user) == (2202, "base")


def test_null_removes_and_lists_replace(inventory: LoadInventory) -> None:
    fixed = {"address": "203.0.113.5", "prefix": 24, "gateway": "203.0.113.1", "dns": ["8.8.8.8"]}
    web = {
        "name": "web",
        "external_port": 80,
        "internal_port": 80,
        "internal_client": "192.168.1.5",
    }
    loaded = inventory(
        {
            "defaults": DEFAULTS | {"fixed_ip": fixed, "port_forwards": [web]},
            "hosts": {
                "shop-1": {**site_fields(1), "fixed_ip": None},
                "shop-2": {**site_fields(2), "port_forwards": [dict(web, name="ssh")]},
            },
        }
    )
    assert loaded.sites["shop-1"].fixed_ip is None
    assert [forward.name for forward in loaded.sites["shop-1"].port_forwards] == ["web"]
    assert [forward.name for forward in loaded.sites["shop-2"].port_forwards] == ["ssh"]


def test_the_nearest_layer_gives_the_password(
    inventory: LoadInventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEET_ADMIN", "from-env")
    defaults = DEFAULTS | {"box": {"password_env": "FLEET_ADMIN"}}
    own = site_fields(2)
    own["box"] = {"host": "h", "password": "own"}
    loaded = inventory({"defaults": defaults, "hosts": {"shop-1": site_fields(1), "shop-2": own}})
    assert loaded.sites["shop-1"].target().password == "from-env"
    assert loaded.sites["shop-2"].target().password == "own"
    assert loaded.sites["shop-2"].box.password_env is None


def test_merge_layers_on_its_own() -> None:
    merged = merge_layers(
        [
            {"box": {"password_env": "A", "port": 22}, "port_forwards": [1, 2]},
            {"box": {"password_file": "secret"}, "port_forwards": [3]},
        ]
    )
    assert merged == {"box": {"port": 22, "password_file": "secret"}, "port_forwards": [3]}


def test_relative_files_are_read_next_to_the_inventory(
    inventory: LoadInventory, tmp_path: Path
) -> None:
    (tmp_path / "sip-1").write_text("secret-1\n", encoding="utf-8")
    fields = site_fields(1)
    fields["voip_line"] |= {"password": None, "password_file": "sip-1"}
    loaded = inventory({"defaults": DEFAULTS, "hosts": {"shop-1": fields}})
    password = loaded.sites["shop-1"].voip_line.password
    assert password is not None
    assert password.get_secret_value() == "secret-1"


# --- --limit -----------------------------------------------------------------------------


@pytest.fixture
def fleet(inventory: LoadInventory) -> Inventory:
    return inventory(
        {
            "defaults": DEFAULTS,
            "groups": {"france": {}, "paris": {"groups": ["france"]}, "lyon": {}},
            "hosts": {
                "shop-12": {**site_fields(12), "groups": ["paris"]},
                "shop-13": {**site_fields(13), "groups": ["lyon"]},
                "shop-20": {**site_fields(20), "groups": ["paris"]},
                "depot": site_fields(30),
            },
        }
    )


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("shop-1*", ["shop-12", "shop-13"]),
        ("depot", ["depot"]),
        ("group:paris", ["shop-12", "shop-20"]),
        ("group:france", ["shop-12", "shop-20"]),  # through the parent group
        ("group:*", ["shop-12", "shop-13", "shop-20"]),
        ("depot, group:lyon", ["shop-13", "depot"]),  # in inventory order
        ("shop-*,!group:paris", ["shop-13"]),
        ("!shop-*", ["depot"]),
        ("Shop-12", []),  # case-sensitive
        ("nowhere", []),
    ],
)
def test_limit_selects_by_name_and_group(fleet: Inventory, pattern: str, names: list[str]) -> None:
    assert list(fleet.select(pattern)) == names


def test_an_empty_limit_is_a_mistake(fleet: Inventory) -> None:
    with pytest.raises(ValueError, match=r"an empty --limit pattern"):
        fleet.select(" , ")


# --- Mistakes ----------------------------------------------------------------------------


def test_an_error_names_the_host_the_field_and_where_the_value_came_from(
    inventory: LoadInventory, tmp_path: Path
) -> None:
    fixed = {"prefix": 24, "gateway": "198.51.100.1", "dns": ["8.8.8.8"]}
    data = {
        "defaults": DEFAULTS,
        "groups": {"paris": {"fixed_ip": fixed}},
        "hosts": {
            "shop-11": site_fields(11),
            "shop-12": {**site_fields(12), "groups": ["paris"], "fixed_ip": {"address": "8.8.4.4"}},
        },
    }
    error = refused(inventory, data)
    assert str(error) == (
        f"{tmp_path / 'inventory.yaml'}: hosts.shop-12.fixed_ip.gateway: 198.51.100.1 is not in "
        "8.8.4.0/24, the fixed IP's prefix (the value is from groups.paris)"
    )
    data["hosts"]["shop-12"]["fixed_ip"]["gateway"] = "203.0.113.1"
    error = refused(inventory, data)
    assert error.field == "hosts.shop-12.fixed_ip.gateway"
    assert error.reason == "203.0.113.1 is not in 8.8.4.0/24, the fixed IP's prefix"


def test_a_default_value_is_told_as_such(inventory: LoadInventory) -> None:
    defaults = DEFAULTS | {"lan": DEFAULTS["lan"] | {"prefix": 40}}
    error = refused(inventory, {"defaults": defaults, "hosts": {"shop-1": site_fields(1)}})
    assert error.field == "hosts.shop-1.lan.prefix"
    assert error.reason.endswith("(the value is from defaults)")


def test_unknown_fields_in_a_host(inventory: LoadInventory) -> None:
    fields = site_fields(1) | {"colour": "orange"}
    error = refused(inventory, {"defaults": DEFAULTS, "hosts": {"shop-1": fields}})
    assert error.field == "hosts.shop-1.colour"
    assert error.reason.startswith("unknown field; a site has: box, offer")


def test_an_unknown_group(inventory: LoadInventory) -> None:
    data = {
        "defaults": DEFAULTS,
        "groups": {"paris": {}, "lyon": {}},
        "hosts": {"shop-1": {**site_fields(1), "groups": ["marseille"]}},
    }
    error = refused(inventory, data)
    assert error.field == "hosts.shop-1.groups"
    assert error.reason == "no group named 'marseille'; the groups are: paris, lyon"
    data["hosts"]["shop-1"]["groups"] = "paris"
    error = refused(inventory, data)
    assert error.reason == "expected a list of group names, as [paris, sysbus]"


def test_groups_that_include_each_other(inventory: LoadInventory) -> None:
    data = {
        "defaults": DEFAULTS,
        "groups": {"a": {"groups": ["b"]}, "b": {"groups": ["c"]}, "c": {"groups": ["a"]}},
        "hosts": {"shop-1": site_fields(1)},
    }
    error = refused(inventory, data)
    assert error.field == "groups.a.groups"
    assert error.reason == "groups include each other: a -> b -> c -> a"


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (
            {"hosts": {"shop-1": {}}, "sites": {}},
            "sites",
            "unknown field; an inventory has defaults, groups and hosts",
        ),
        ({"defaults": {"groups": ["a"]}, "hosts": {"x": {}}}, "defaults.groups", "the defaults"),
        ({"hosts": ["shop-1"]}, "hosts", "expected a mapping of names to site fields"),
        ({"hosts": {}}, "hosts", "no host: an inventory lists at least one site"),
        ({"hosts": {12: {}}}, "hosts.12", "12 is not a name"),
        ({"hosts": {"shop 1": {}}}, "hosts.shop 1", "'shop 1' is not a name"),
        ({"hosts": {"shop-1": "x"}}, "hosts.shop-1", "expected a mapping of site fields"),
        ({"defaults": {}, "groups": {}}, "hosts", "missing: an inventory lists its sites"),
    ],
)
def test_the_shape_of_an_inventory(
    inventory: LoadInventory, data: dict[str, Any], field: str, reason: str
) -> None:
    error = refused(inventory, data)
    assert error.field == field
    assert error.reason.startswith(reason)


def test_bad_yaml_in_an_inventory_gives_the_line(tmp_path: Path, rules: SiteRules) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("hosts:\n  shop-1:\n    box: {host: x\n  shop-2: {}\n", encoding="utf-8")
    with pytest.raises(SiteError, match=r"inventory.yaml: not valid YAML: line 4, column"):
        load_inventory(path, rules=rules)


def test_a_password_never_shows_in_an_inventory_error(inventory: LoadInventory) -> None:
    fields = site_fields(1)
    fields["voip_line"] |= {"pasword": "hunter2-secret"}
    error = refused(inventory, {"defaults": DEFAULTS, "hosts": {"shop-1": fields}})
    assert error.field == "hosts.shop-1.voip_line.pasword"
    assert "hunter2-secret" not in str(error)
    assert "sip-pass" not in str(error)
