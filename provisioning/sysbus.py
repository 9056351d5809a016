"""A management session over a box's sysbus HTTP interface (`POST /ws`, JSON calls)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import aiohttp
from yarl import URL

from provisioning.session import (
    SYSBUS_CAPABILITIES,
    BoxTarget,
    Capabilities,
    CommandRejected,
    ConnectError,
    ConnectionDropped,
    LoginError,
    NotSupported,
    ProvisioningError,
    Session,
    SessionTimeout,
    Timeouts,
)

__all__ = ["APPLICATION", "DEFAULT_TIMEOUTS", "SysbusSession", "connect_sysbus"]

#: The application name every public sysbus client gives when it opens a context.
APPLICATION: Final = "so_sdkut"
DEFAULT_TIMEOUTS: Final = Timeouts()

# ws-4 is what the box's own web UI speaks: replies come unwrapped (no "result" envelope).
_CALL_TYPE: Final = "application/x-sah-ws-4-call+json"
_LOGIN_SERVICE: Final = "sah.Device.Information"
_EXPIRED: Final = 13
#: Seconds an idle connection is kept for the next call.
_IDLE_S: Final = 5.0
_NO_TRANSACTIONS: Final = (
    "sysbus applies each write at once, as the real box does, so there is nothing to commit, "
    "confirm or roll back; to undo a change, write the old values back (an emulated rollback)"
)


@dataclass(frozen=True, slots=True)
class _Fault:
    """One entry of a reply's `errors` list: the box's code, its words, and what it names."""

    code: int | None
    description: str
    info: str


@dataclass(frozen=True, slots=True)
class _Reply:
    http_status: int
    body: Mapping[str, Any]
    faults: tuple[_Fault, ...]


async def connect_sysbus(target: BoxTarget, timeouts: Timeouts = DEFAULT_TIMEOUTS) -> SysbusSession:
    """Log in to the box's sysbus (`createContext`) and return the open session.

    Raises ConnectError (nothing listens), SessionTimeout("connect" or "login"), LoginError
    (credentials refused; the password is never in the message).

    >>> target = BoxTarget("shop-12", "192.0.2.7", 80, transport="sysbus", password=secret)
    >>> async with await connect_sysbus(target) as session:        # doctest: +SKIP
    ...     await session.get("Device.DeviceInfo.SerialNumber")
    {'Device.DeviceInfo.SerialNumber': 'LB7P10452331'}
    """
    if target.transport != "sysbus":
        raise ValueError(f"{target.name}: its transport is {target.transport!r}, not 'sysbus'")
    if target.password is None:
        raise LoginError(
            f"{target.name}: sysbus logs in with the admin password, and none is given "
            "(a key file is for SSH)"
        )
    session = SysbusSession(target, timeouts)
    try:
        await session._login()
    except BaseException:
        await session._http.close()
        raise
    return session


class SysbusSession(Session):
    """An open sysbus context on one box. Each `set` (one call per object), `add` and `delete`
    takes effect on the box at once; there is no transaction (see `capabilities`)."""

    capabilities: ClassVar[Capabilities] = SYSBUS_CAPABILITIES

    def __init__(self, target: BoxTarget, timeouts: Timeouts) -> None:
        self.target = target
        self.timeouts = timeouts
        self._url = URL.build(scheme="http", host=target.host, port=target.port, path="/ws")
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect),
            # The box's session cookie is named `<serial>/sessid`, which cookie jars refuse:
            # it is kept and sent back by hand.
            cookie_jar=aiohttp.DummyCookieJar(),
            # An idle connection is dropped well before the box would close it under a call.
            connector=aiohttp.TCPConnector(keepalive_timeout=_IDLE_S),
        )
        self._context: str | None = None
        self._cookie = ""
        self._logged_in = False
        self._relogin = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        target = self.target
        return f"SysbusSession({target.name!r}, {target.host}:{target.port}, user={target.user!r})"

    # --- The contract ---------------------------------------------------------------------

    async def get(self, path: str) -> dict[str, str]:
        """Every parameter at and below an object path, or one parameter; see Session.get.

        An object is read with the generic `get` and `depth` -1 (everything below it); one
        parameter with a plain `get` of its object, which gives the object's own parameters.
        """
        if path.endswith("."):
            status = await self._run(_service(path), "get", {"depth": -1}, path)
            if not isinstance(status, dict):
                raise self._unexpected(path, "an object of object paths", status)
            values: dict[str, str] = {}
            for owner, parameters in status.items():
                if not isinstance(parameters, dict):
                    raise self._unexpected(path, "parameters by name", parameters)
                base = _object_path(str(owner))
                values.update({base + name: _text(value) for name, value in parameters.items()})
            return values
        owner, name = _split(path)
        status = await self._run(_service(owner), "get", None, path)
        if not isinstance(status, dict):
            raise self._unexpected(path, "parameters by name", status)
        if name not in status:
            raise CommandRejected(path, "Object or parameter not found")
        return {path: _text(status[name])}

    async def set(self, values: Mapping[str, str]) -> None:
        """One generic `set {"parameters": {...}}` per object, in the order the objects first
        appear in `values`; each takes effect at once. A refusal raises CommandRejected for
        that object (nothing of it written); the objects before it stay written."""
        objects: dict[str, dict[str, str]] = {}
        for path, value in values.items():
            owner, name = _split(path)
            objects.setdefault(owner, {})[name] = value
        for owner, parameters in objects.items():
            await self._run(
                _service(owner), "set", {"parameters": parameters}, owner, names=parameters
            )

    async def add(self, table: str, values: Mapping[str, str]) -> str:
        """The generic `add {"parameters": {...}}` on a table; returns the new instance's path."""
        if not table.endswith("."):
            raise CommandRejected(table, "a table path ends with '.' (as Device.NAT.PortMapping.)")
        given = dict(values)
        status = await self._run(_service(table), "add", {"parameters": given}, table, names=given)
        added = status.get("path") if isinstance(status, dict) else status
        if not isinstance(added, str) or not added:
            raise self._unexpected(table, "the new instance's path", status)
        return _object_path(added)

    async def delete(self, instance: str) -> None:
        """The generic `delete` on an instance, by number or alias."""
        if not instance.endswith("."):
            raise CommandRejected(
                instance, "an instance path ends with '.' (as Device.NAT.PortMapping.web.)"
            )
        await self._run(_service(instance), "delete", None, instance)

    async def commit(self, *, confirm_s: int | None = None) -> int | None:
        """Nothing to commit over sysbus: returns None. `confirm_s` raises NotSupported."""
        if confirm_s is not None:
            raise NotSupported(
                f"{self.target.name}: no commit confirm over sysbus: {_NO_TRANSACTIONS}"
            )
        return None

    async def confirm(self) -> None:
        raise NotSupported(
            f"{self.target.name}: nothing to confirm over sysbus: {_NO_TRANSACTIONS}"
        )

    async def rollback(self) -> None:
        raise NotSupported(
            f"{self.target.name}: no native rollback over sysbus: {_NO_TRANSACTIONS}"
        )

    async def close(self) -> None:
        """Release the context (`releaseContext`) and the connections; never raises."""
        if self._closed:
            return
        self._closed = True
        context, self._context = self._context, None
        try:
            if context:
                headers = {"Content-Type": _CALL_TYPE, "Authorization": f"X-Sah-Logout {context}"}
                body = _body(_LOGIN_SERVICE, "releaseContext", {"applicationName": APPLICATION})
                async with asyncio.timeout(self.timeouts.command):
                    await self._post(body, self._with_cookie(headers))
        except Exception:
            pass  # an unreleased context lapses on the box by itself
        finally:
            with suppress(Exception):
                await self._http.close()

    # --- Calls ------------------------------------------------------------------------------

    async def _login(self) -> None:
        target = self.target
        assert target.password is not None
        parameters = {
            "applicationName": APPLICATION,
            "username": target.user,
            "password": target.password,
        }
        headers = {"Content-Type": _CALL_TYPE, "Authorization": "X-Sah-Login"}
        # The first call opens the connection: its stage gets the connect time as well.
        seconds = self.timeouts.login + (0 if self._logged_in else self.timeouts.connect)
        reply = await self._exchange(
            _body(_LOGIN_SERVICE, "createContext", parameters), headers, "login", seconds
        )
        if reply.http_status == 401 or reply.faults:
            raise LoginError(self._refusal(reply))
        data = reply.body.get("data")
        context = data.get("contextID") if isinstance(data, dict) else None
        if not isinstance(context, str) or not context:
            raise LoginError(f"{target.name}: the box accepted the login but gave no context")
        self._context = context
        self._logged_in = True

    def _refusal(self, reply: _Reply) -> str:
        target = self.target
        words = "; ".join(f.description for f in reply.faults) or f"HTTP {reply.http_status}"
        refused = f"{target.name}: the box refused the login of {target.user!r}"
        errors = reply.body.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        wait = first.get("waittime") if isinstance(first, dict) else None
        if isinstance(wait, int) and not isinstance(wait, bool) and wait > 0:
            return f"{refused} and makes this address wait {wait} s before the next try ({words})"
        if reply.http_status == 401 or any(f.code == _EXPIRED for f in reply.faults):
            return f"{refused}: wrong user or password ({words})"
        return f"{refused} ({words})"

    async def _run(
        self,
        service: str,
        method: str,
        parameters: Mapping[str, Any] | None,
        what: str,
        *,
        names: Collection[str] = (),
    ) -> Any:
        """One call's `status`; an expired context (error 13) logs in again, once."""
        context, reply = await self._call(service, method, parameters)
        if reply.http_status == 401 or any(f.code == _EXPIRED for f in reply.faults):
            async with self._relogin:
                # Another call may have logged in again meanwhile.
                if self._context == context:
                    await self._login()
            _, reply = await self._call(service, method, parameters)
        if reply.faults:
            raise _rejected(what, reply.faults, names, (service, method))
        if reply.http_status != 200:
            raise ProvisioningError(
                f"{self.target.name}: {what}: the box answered HTTP {reply.http_status}"
            )
        return reply.body.get("status")

    async def _call(
        self, service: str, method: str, parameters: Mapping[str, Any] | None
    ) -> tuple[str, _Reply]:
        context = self._context
        if context is None or self._closed:
            raise ConnectionDropped(f"{self.target.name}: the sysbus session is closed")
        headers = {
            "Content-Type": _CALL_TYPE,
            "X-Context": context,
            "Authorization": f"X-Sah {context}",
        }
        reply = await self._exchange(
            _body(service, method, parameters),
            self._with_cookie(headers),
            "command",
            self.timeouts.command,
            f"{service} {method}",
        )
        return context, reply

    async def _exchange(
        self,
        body: bytes,
        headers: Mapping[str, str],
        stage: str,
        seconds: float,
        doing: str = "",
    ) -> _Reply:
        """Post one call and read its reply, each failure mapped to the contract's errors."""
        target = self.target
        where = f"{target.host}:{target.port}"
        doing = doing or stage
        try:
            async with asyncio.timeout(seconds):
                http_status, raw, cookies = await self._post(body, headers)
        except aiohttp.ConnectionTimeoutError:
            raise SessionTimeout(
                "connect", self.timeouts.connect, f"{target.name} ({where})"
            ) from None
        except TimeoutError:
            raise SessionTimeout(stage, seconds, f"{target.name}: {doing}") from None
        except aiohttp.ClientConnectorError as exc:
            why = _unreachable(exc.os_error)
            if not self._logged_in:
                raise ConnectError(
                    f"{target.name}: nothing answers sysbus at {where} ({why})"
                ) from None
            raise ConnectionDropped(
                f"{target.name}: the box stopped answering at {where} during {doing} ({why})"
            ) from None
        except aiohttp.ClientError as exc:
            why = _broken(exc)
            if not self._logged_in:
                raise ConnectError(
                    f"{target.name}: the connection to {where} broke during login ({why})"
                ) from None
            raise ConnectionDropped(
                f"{target.name}: the connection to {where} broke during {doing} ({why})"
            ) from None
        if cookies:
            self._cookie = cookies
        try:
            document = json.loads(raw)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ProvisioningError(
                f"{target.name}: {doing}: the box's reply (HTTP {http_status}) is not a JSON object"
            )
        inner = document.get("result")
        body_ = inner if isinstance(inner, dict) else document
        return _Reply(http_status, body_, _faults(body_))

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, str]:
        async with self._http.post(self._url, data=body, headers=headers) as response:
            raw = await response.read()
            pairs = (h.split(";", 1)[0].strip() for h in response.headers.getall("Set-Cookie", []))
            return response.status, raw, "; ".join(p for p in pairs if "=" in p)

    def _with_cookie(self, headers: dict[str, str]) -> dict[str, str]:
        if self._cookie:
            headers["Cookie"] = self._cookie
        return headers

    def _unexpected(self, what: str, wanted: str, got: object) -> ProvisioningError:
        shown = type(got).__name__ if got is not None else "nothing"
        return ProvisioningError(
            f"{self.target.name}: {what}: the box's reply is not {wanted} (got {shown})"
        )


# --- Paths and values ------------------------------------------------------------------------


def _service(path: str) -> str:
    """The service of an object path: the path without its final dot, as the box names it."""
    return path.removesuffix(".")


def _object_path(name: str) -> str:
    """A path the box gives back, in the contract's form (`Device.` first, a final dot)."""
    path = name if name == "Device" or name.startswith("Device.") else "Device." + name
    return path if path.endswith(".") else path + "."


def _split(path: str) -> tuple[str, str]:
    """(object path, parameter name) of a parameter path."""
    owner, dot, name = path.rpartition(".")
    if not (dot and owner and name):
        raise CommandRejected(
            path, "not a parameter path (as Device.DeviceInfo.SerialNumber; objects end with '.')"
        )
    return owner + ".", name


def _unreachable(error: OSError) -> str:
    """Why a connection could not be made, in words."""
    if isinstance(error, socket.gaierror) or not error.errno:
        return error.strerror or str(error)
    return os.strerror(error.errno)


def _broken(exc: aiohttp.ClientError) -> str:
    """Why a connection broke, in words."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the box closed the connection without answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the reply was cut short"
    if isinstance(exc, aiohttp.ClientOSError):
        return os.strerror(exc.errno) if exc.errno else "the box closed the connection"
    return type(exc).__name__


def _text(value: object) -> str:
    """A value the box sent as JSON, as the canonical text the data model uses."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return ""
    return json.dumps(value)


def _body(service: str, method: str, parameters: Mapping[str, Any] | None) -> bytes:
    document = {"service": service, "method": method, "parameters": parameters or {}}
    return json.dumps(document).encode()


def _faults(body: Mapping[str, Any]) -> tuple[_Fault, ...]:
    """The errors of a reply: an `errors` list, or a bare error object (some firmwares)."""
    errors = body.get("errors")
    if isinstance(errors, dict):
        errors = [errors]
    elif errors is None and "error" in body:
        errors = [body]
    if not isinstance(errors, list):
        return ()
    faults = []
    for error in errors:
        if not isinstance(error, dict):
            faults.append(_Fault(None, str(error), ""))
            continue
        code = error.get("error")
        if code == 0:
            continue  # the box lists "Success" entries beside the real errors
        faults.append(
            _Fault(
                code if isinstance(code, int) else None,
                str(error.get("description") or "error"),
                str(error.get("info") or ""),
            )
        )
    return tuple(faults)


def _rejected(
    what: str, faults: tuple[_Fault, ...], names: Collection[str], call: tuple[str, str]
) -> CommandRejected:
    """CommandRejected naming the parameter the box names (when it is one of `names`), else
    the path asked for, with the box's own words."""
    if len(faults) == 1 and faults[0].info in names:
        fault = faults[0]
        reason = fault.description.removeprefix(f"{fault.info}: ")
        return CommandRejected(what + fault.info, reason)

    def words(fault: _Fault) -> str:
        if fault.info and fault.info not in call and fault.info not in fault.description:
            return f"{fault.description} ({fault.info})"
        return fault.description

    return CommandRejected(what, "; ".join(words(fault) for fault in faults))
