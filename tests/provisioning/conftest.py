"""Sites pointing at emulated boxes, for the provisioning tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.fleet import ServedBox
from emulator.pytest_plugin import PASSWORD

EXAMPLE = Path(__file__).parents[2] / "provisioning" / "examples" / "site.yaml"
SIP_PASSWORD = "sip-Secret-42"

WriteSite = Callable[..., Path]


def known_hosts_line(served: ServedBox) -> str:
    host, port = served.endpoints()["ssh"].rsplit(":", 1)
    return f"[{host}]:{port} {served.box.host_key.export_public_key().decode().strip()}\n"


@pytest.fixture
def livebox_sip_password() -> str:
    """The operator core expects the password the example site gives the VoIP line."""
    return SIP_PASSWORD


@pytest.fixture
def write_site(tmp_path: Path) -> WriteSite:
    """Write the example site, aimed at an emulated box; keyword arguments override sections."""

    def write(
        served: ServedBox,
        *,
        transport: str = "ssh",
        password: str = PASSWORD,
        known: bool = True,
        name: str = "site.yaml",
        **sections: Any,
    ) -> Path:
        site = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
        host, port = served.endpoints()["ssh" if transport == "ssh" else "http"].rsplit(":", 1)
        box: dict[str, Any] = {
            "host": host,
            "port": int(port),
            "transport": transport,
            "user": "admin",
            "password": password,
        }
        if transport == "ssh":
            hosts = tmp_path / "known_hosts"
            hosts.write_text(known_hosts_line(served) if known else "", encoding="utf-8")
            box["known_hosts"] = str(hosts)
        site["box"] = box
        line = site["voip_line"]
        line.pop("password_env", None)
        line["password"] = SIP_PASSWORD
        if served.core is not None and served.numbers is not None:
            # The line registers with the fleet's operator core, under the box's numbers.
            line["directory_number"] = served.numbers.voip
            line["sip_user"] = served.numbers.sip_user
            for server in ("registrar", "proxy", "domain"):
                line[server] = served.core.domain
            line["registrar_port"] = line["proxy_port"] = served.core.port
        site.update(sections)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
        return path

    return write
