"""Many sites in one file, in the spirit of Nornir: defaults, groups and hosts merged into sites."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from provisioning.site import (
    SECRET_SOURCES,
    Site,
    SiteError,
    SiteOrigin,
    SiteRules,
    parse_site,
    read_site_yaml,
)

__all__ = ["Inventory", "load_inventory", "merge_layers"]

INVENTORY_FIELDS = ("defaults", "groups", "hosts")
GROUP_TERM = "group:"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_Layer = tuple[str, Mapping[str, Any]]  # (where it is in the file, its site fields)


@dataclass(frozen=True, slots=True)
class Inventory:
    """The sites of an inventory file (or of a single site file), by name in file order."""

    source: Path
    sites: dict[str, Site]

    def select(self, pattern: str) -> dict[str, Site]:
        """The sites a `--limit` pattern names, in inventory order (empty when none match).

        The pattern is one or more comma-separated terms. A term is a shell-style glob
        (fnmatch, case-sensitive) on site names (`shop-1*`), or on their groups with
        `group:` (`group:paris`; a group's parent groups count). A term starting with `!`
        removes what it matches; a pattern of removals only starts from every site.

        >>> inventory.select("shop-1*,group:lyon,!shop-13")
        {'shop-12': Site(...), 'shop-20': Site(...)}
        """
        terms = [term.strip() for term in pattern.split(",") if term.strip()]
        if not terms:
            raise ValueError("an empty --limit pattern: give site names or group:NAME")
        wanted = [term for term in terms if not term.startswith("!")]
        unwanted = [term[1:] for term in terms if term.startswith("!")]
        return {
            name: site
            for name, site in self.sites.items()
            if (not wanted or any(_matches(site, term) for term in wanted))
            and not any(_matches(site, term) for term in unwanted)
        }


def _matches(site: Site, term: str) -> bool:
    if term.startswith(GROUP_TERM):
        glob = term[len(GROUP_TERM) :]
        return any(fnmatchcase(group, glob) for group in site.groups)
    return fnmatchcase(site.name, term)


def load_inventory(path: Path, *, rules: SiteRules | None = None) -> Inventory:
    """The sites of an inventory file, every one validated before any connection.

    The file has `defaults:` (site fields), `groups:` (name -> site fields, with optional
    `groups:` of their own, their parents) and `hosts:` (name -> site fields and optional
    `groups: [...]`). A host's site is, merged in this order, each over the one before:
    the defaults, then its groups in the order listed (each group preceded by its own parent
    groups, a group met twice merged once, where first met), then the host's own fields. So a
    later group overrides an earlier one (the reverse of Nornir, where the first group wins:
    here the file reads as layers, top to bottom). See `merge_layers` for how two layers merge.

    A file without `hosts:` is a single site file: an inventory of one, named after the file.
    Raises SiteError naming the file, the field (`hosts.shop-12.fixed_ip.gateway`) and the
    reason; when the faulty value came from the defaults or a group, the reason says which.
    """
    rules = rules or SiteRules.load()
    data = read_site_yaml(path)
    if "hosts" not in data:
        if "defaults" in data or "groups" in data:
            raise SiteError(path, "hosts", "missing: an inventory lists its sites under hosts")
        site = parse_site(data, SiteOrigin(path.stem, path), rules)
        return Inventory(path, {site.name: site})
    for field in data:
        if field not in INVENTORY_FIELDS:
            raise SiteError(
                path,
                str(field),
                "unknown field; an inventory has defaults, groups and hosts (site fields go "
                "under one of them)",
            )
    defaults = _fields(path, "defaults", data.get("defaults"))
    if "groups" in defaults:
        raise SiteError(
            path, "defaults.groups", "the defaults belong to no group; give groups to hosts"
        )
    groups = _named(path, "groups", data.get("groups"))
    hosts = _named(path, "hosts", data.get("hosts"))
    if not hosts:
        raise SiteError(path, "hosts", "no host: an inventory lists at least one site")
    parents = {
        name: _group_names(path, f"groups.{name}.groups", fields.get("groups"), groups)
        for name, fields in groups.items()
    }
    for name in groups:
        _expand(path, [name], parents)  # every cycle is a mistake, even in an unused group
    sites: dict[str, Site] = {}
    for name, fields in hosts.items():
        member_of = _group_names(path, f"hosts.{name}.groups", fields.get("groups"), groups)
        expanded = _expand(path, member_of, parents)
        layers: list[_Layer] = [
            ("defaults", defaults),
            *((f"groups.{group}", _own(groups[group])) for group in expanded),
            (f"hosts.{name}", _own(fields)),
        ]
        origin = SiteOrigin(name, path, f"hosts.{name}.", tuple(expanded))
        try:
            sites[name] = parse_site(merge_layers(layer for _, layer in layers), origin, rules)
        except SiteError as exc:
            raise _told_where(exc, origin, layers) from None
    return Inventory(path, sites)


def merge_layers(layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Deep-merge site fields, each layer over the ones before.

    Mappings merge key by key; anything else (a list, a number, null) replaces what was below,
    so `fixed_ip: null` in a host removes a group's fixed IP and a host's `port_forwards` list
    replaces a group's. A section's password is given one way: a layer that gives any of
    `password`, `password_env` or `password_file` replaces the others from below.
    """
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merge(merged, layer)
    return merged


def _merge(below: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(below)
    if any(key in layer for key in SECRET_SOURCES):
        for key in SECRET_SOURCES:
            merged.pop(key, None)
    for key, value in layer.items():
        under = merged.get(key)
        if isinstance(value, Mapping) and isinstance(under, Mapping):
            merged[key] = _merge(under, value)
        else:
            merged[key] = value
    return merged


def _own(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A group's or host's site fields, without its list of groups."""
    return {key: value for key, value in fields.items() if key != "groups"}


def _fields(path: Path, field: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SiteError(path, field, "expected a mapping of site fields")
    return value


def _named(path: Path, field: str, value: object) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SiteError(path, field, "expected a mapping of names to site fields")
    named: dict[str, dict[str, Any]] = {}
    for name, fields in value.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SiteError(
                path,
                f"{field}.{name}",
                f"{name!r} is not a name (letters, digits, '.', '_' and '-', starting with a "
                "letter or digit; quote names YAML would read as numbers)",
            )
        named[name] = _fields(path, f"{field}.{name}", fields)
    return named


def _group_names(path: Path, field: str, value: object, groups: Mapping[str, object]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise SiteError(path, field, "expected a list of group names, as [paris, sysbus]")
    for name in value:
        if name not in groups:
            known = ", ".join(groups) or "none"
            raise SiteError(path, field, f"no group named {name!r}; the groups are: {known}")
    return list(value)


def _expand(path: Path, names: list[str], parents: Mapping[str, list[str]]) -> list[str]:
    """Groups with their parents first, each once where first met; SiteError on a cycle."""
    order: list[str] = []

    def visit(group: str, trail: tuple[str, ...]) -> None:
        if group in trail:
            cycle = " -> ".join((*trail[trail.index(group) :], group))
            raise SiteError(path, f"groups.{group}.groups", f"groups include each other: {cycle}")
        for parent in parents[group]:
            visit(parent, (*trail, group))
        if group not in order:
            order.append(group)

    for name in names:
        visit(name, ())
    return order


def _told_where(exc: SiteError, origin: SiteOrigin, layers: list[_Layer]) -> SiteError:
    """The error, saying which layer gave the faulty value when it is not the host's own."""
    field = exc.field or ""
    if not field.startswith(origin.field_prefix):
        return exc
    parts = field[len(origin.field_prefix) :].split(".")
    for where, layer in reversed(layers):
        found, value = _lookup(layer, parts)
        if found:
            if where.startswith("hosts.") or isinstance(value, Mapping):
                return exc  # the host's own value, or a section merged from several layers
            return SiteError(exc.path, exc.field, f"{exc.reason} (the value is from {where})")
    return exc


def _lookup(fields: Any, parts: list[str]) -> tuple[bool, Any]:
    for part in parts:
        if isinstance(fields, Mapping) and part in fields:
            fields = fields[part]
        elif isinstance(fields, list) and part.isdigit() and int(part) < len(fields):
            fields = fields[int(part)]
        else:
            return False, None
    return True, fields
