"""Custos module SDK for Python: policy and exit modules, protocol v1 (../PROTOCOL.md).

Standard library only. A whole policy module:

    import custos_module as custos

    @custos.on_hello
    def configure(config):
        custos.check_config(config, known={"domain"}, required={"domain"})

    @custos.policy
    def verify(request, resubmission, config):
        if all(name.endswith("." + config["domain"]) for name in request.dns_names):
            return custos.issue("inside " + config["domain"], validity_days=90)
        return custos.deny("a DNS name is outside " + config["domain"])

    custos.run(name="domain-policy")

An exit module decorates `(event, config)` with `@exit_handler(events=[...])`
instead and returns once the event is safely published; if it raises, the
module exits with status 8 and the engine delivers the event again. If a
policy raises, the verdict is `pend`, naming the exception. While `run`
works, print() writes to stderr (modules.log): stdout carries frames only.
"""
import base64
import json
import os
import re
import struct
import sys
import traceback
from collections import namedtuple
from pathlib import Path

MAX_FRAME = 1_048_576
EVENTS = ("certificate_issued", "request_pending", "request_denied", "request_retrieved",
          "certificate_revoked", "crl_issued", "startup", "shutdown")
SAN_TYPES = ("dns", "ip", "email", "uri")
ENGINE_OWNED = {"2.5.29.19": "basicConstraints", "2.5.29.14": "subjectKeyIdentifier",
                "2.5.29.35": "authorityKeyIdentifier"}  # a verdict naming these is denied

SAN = namedtuple("SAN", "type value")
Extension = namedtuple("Extension", "oid critical der")  # der: bytes
Certificate = namedtuple("Certificate", "serial der")
Crl = namedtuple("Crl", "number der")
Event = namedtuple("Event", "id event request certificate crl")  # parts the event lacks are None


class ConfigError(Exception):
    """Raised by an @on_hello function: the module exits with status 3, naming `key`."""

    def __init__(self, key, problem="is not a known key"):
        super().__init__(f"configuration key '{key}' {problem}")
        self.key = key


class ProtocolError(Exception):
    """The engine sent something protocol v1 does not allow (exit status 4)."""


class Verdict(dict):
    """A verdict message, as issue(), deny() and pend() build it."""


_handlers = {"hello": None, "policy": None, "exit": None, "events": []}
_state = {"name": Path(sys.argv[0]).stem or "python-module", "out": sys.stdout.buffer}


def _fail(status, text):
    sys.stderr.write(f"{_state['name']}: {text}\n")
    sys.stderr.flush()
    sys.exit(status)


# --- frames -------------------------------------------------------------------

def read_message():
    """The next message. Exits 0 if the engine hung up between frames, 5 inside one, 4 on a bad one."""
    header = sys.stdin.buffer.read(4)
    if not header:
        sys.exit(0)
    if len(header) < 4:
        _fail(5, "the engine went away inside a frame's length")
    (length,) = struct.unpack(">I", header)
    if not 1 <= length <= MAX_FRAME:
        _fail(4, f"the engine sent a frame of {length} bytes (allowed: 1 to {MAX_FRAME})")
    body = sys.stdin.buffer.read(length)
    if len(body) < length:
        _fail(5, f"the engine went away after {len(body)} of {length} bytes of a frame")
    try:
        message = json.loads(body.decode("utf-8"))
    except ValueError as error:  # not UTF-8, or not JSON
        _fail(4, f"the engine sent a frame that is not UTF-8 JSON: {error}")
    if not isinstance(message, dict):
        _fail(4, "the engine sent a frame that is not a JSON object")
    return message


def _encode(message):
    body = json.dumps(message, allow_nan=False, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ValueError(f"a message of {len(body)} bytes is over the frame limit of {MAX_FRAME}")
    return struct.pack(">I", len(body)) + body


def _write(frame):
    try:
        _state["out"].write(frame)
        _state["out"].flush()
    except BrokenPipeError:
        sys.stderr.write(f"{_state['name']}: the engine went away\n")
        os._exit(5)  # sys.exit would try to flush the frame again


def write_message(message):
    """Writes one frame to stdout and flushes it; exits 5 if the engine is gone."""
    _write(_encode(message))


# --- what the engine sends ------------------------------------------------------

def _fields(obj, where, required, optional=None):
    """Checks an object as the engine does: no unknown, missing or mistyped field."""
    optional = optional or {}
    if not isinstance(obj, dict):
        raise ProtocolError(f"{where} must be an object")
    for name in sorted(obj.keys() - required.keys() - optional.keys()):
        raise ProtocolError(f"{where} has an unknown field '{name}'")
    for name, kind in {**required, **optional}.items():
        if name in required and name not in obj:
            raise ProtocolError(f"{where} lacks the field '{name}'")
        if name in obj and (not isinstance(obj[name], kind) or (kind is int and isinstance(obj[name], bool))):
            raise ProtocolError(f"{where}.{name} must be of type {kind.__name__}")
    return obj


def _bytes(text, where):
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise ProtocolError(f"{where} must be base64") from None


class Request:
    """R: id, csr (DER bytes), subject, san [SAN], key {}, attributes {}, requested_extensions [Extension],
    and profile {} (as the engine parsed it from custos.toml; None when it has no profile of that name)."""

    def __init__(self, r):
        _fields(r, "request", {"id": int, "csr": str, "subject": str, "san": list, "key": dict,
                               "attributes": dict, "requested_extensions": list}, {"profile": dict})
        self.profile = r.get("profile")
        self.id, self.subject, self.key = r["id"], r["subject"], r["key"]
        self.csr = _bytes(r["csr"], "request.csr")
        self.san = [SAN(**_fields(s, "request.san[]", {"type": str, "value": str})) for s in r["san"]]
        self.attributes = _fields(r["attributes"], "request.attributes", {}, dict.fromkeys(r["attributes"], str))
        self.requested_extensions = []
        for e in r["requested_extensions"]:
            _fields(e, "request.requested_extensions[]", {"oid": str, "critical": bool, "der": str})
            self.requested_extensions.append(Extension(e["oid"], e["critical"], _bytes(e["der"], "extension der")))

    @property
    def dns_names(self):
        return [name.value for name in self.san if name.type == "dns"]


def _event(message):
    _fields(message, "notify", {"type": str, "id": int, "event": str},
            {"request": dict, "certificate": dict, "crl": dict})
    cert, crl = message.get("certificate"), message.get("crl")
    if cert is not None:
        _fields(cert, "notify.certificate", {"serial": str, "der": str})
        cert = Certificate(cert["serial"], _bytes(cert["der"], "notify.certificate.der"))
    if crl is not None:
        _fields(crl, "notify.crl", {"number": int, "der": str}, {"offset": int, "size": int})
        der = _bytes(crl["der"], "notify.crl.der")
        if ("offset" in crl) != ("size" in crl):
            raise ProtocolError("notify.crl has one of offset and size without the other")
        if "size" in crl:
            der = _crl_part(message["id"], crl["number"], crl["offset"], crl["size"], der)
            if der is None:
                return None
        crl = Crl(crl["number"], der)
    request = Request(message["request"]) if "request" in message else None
    return Event(message["id"], message["event"], request, cert, crl)


def _crl_part(event_id, number, offset, size, der):
    """Joins a CRL sent in parts (one notify each, same id): the whole CRL with its last part, else None.

    A part at offset 0 starts afresh: after a failure the engine sends the event again from its first part."""
    joining = _state.get("crl_parts")
    if offset == 0:
        joining = _state["crl_parts"] = (event_id, number, size, bytearray())
    elif joining is None or joining[:3] != (event_id, number, size) or len(joining[3]) != offset:
        raise ProtocolError(f"notify {event_id}: the CRL part at offset {offset} does not follow the part before it")
    joining[3].extend(der)
    if len(joining[3]) > size:
        raise ProtocolError(f"notify {event_id}: the CRL's parts run past its size of {size} bytes")
    if len(joining[3]) < size:
        return None
    _state["crl_parts"] = None
    return bytes(joining[3])


# --- verdicts -------------------------------------------------------------------

_OID = re.compile(r"[012](\.(0|[1-9][0-9]{0,38}))+")


def is_canonical_oid(text):
    """True for the one dotted spelling of an OID: '2.5.29.17', not '2.5.29.017', '1.40' or '2.5'."""
    if not (isinstance(text, str) and len(text) <= 256 and _OID.fullmatch(text)):
        return False
    return text[0] == "2" or int(text.split(".")[1]) < 40


def _oid(oid):
    if not is_canonical_oid(oid):
        raise ValueError(f"{oid!r} is not an OID in canonical dotted form")
    if oid in ENGINE_OWNED:
        raise ValueError(f"{oid} ({ENGINE_OWNED[oid]}) belongs to the engine: a verdict naming it is denied")
    return oid


def _san(name):  # a SAN, a (type, value) pair or {"type", "value"}
    name = SAN(**name) if isinstance(name, dict) else SAN(*name)
    if name.type not in SAN_TYPES or not isinstance(name.value, str):
        raise ValueError(f"{name!r}: a SAN's type is one of {', '.join(SAN_TYPES)}, its value text")
    return name._asdict()


def _extension(ext):  # an Extension, an (oid, critical, der) triple or a dict of those keys
    ext = Extension(**ext) if isinstance(ext, dict) else Extension(*ext)
    if not isinstance(ext.critical, bool) or not isinstance(ext.der, (bytes, bytearray)):
        raise TypeError(f"extension {ext.oid}: critical must be a bool, der bytes")
    return {"oid": _oid(ext.oid), "critical": ext.critical, "der": base64.b64encode(ext.der).decode()}


def _verdict(decision, message):
    if not isinstance(message, str):
        raise TypeError("a verdict's message must be text")
    return Verdict(type="verdict", decision=decision, message=message)


def issue(message="", subject=None, san=None, validity_days=None, extensions_add=None, extensions_remove=None):
    """Issue; a property left None (or an empty list of extensions) is the request's and profile's."""
    verdict, cert = _verdict("issue", message), {}
    if subject is not None:
        if not isinstance(subject, str):
            raise TypeError("subject must be RFC 4514 text")
        cert["subject"] = subject
    if san is not None:
        cert["san"] = [_san(name) for name in san]
    if validity_days is not None:
        if not isinstance(validity_days, int) or isinstance(validity_days, bool) or validity_days < 1:
            raise ValueError(f"validity_days must be a positive integer, not {validity_days!r}")
        cert["validity_days"] = validity_days
    if extensions_add:
        cert["extensions_add"] = [_extension(ext) for ext in extensions_add]
    if extensions_remove:
        cert["extensions_remove"] = [_oid(oid) for oid in extensions_remove]
    if cert:
        verdict["certificate"] = cert
    return verdict


def deny(message):
    return _verdict("deny", message)


def pend(message):
    return _verdict("pend", message)


# --- registration and the loop ------------------------------------------------------

def check_config(config, known, required=()):
    """Raises ConfigError for the first key not in `known`, or in `required` and missing."""
    for key in sorted(set(config) - set(known)):
        raise ConfigError(key)
    for key in sorted(set(required) - set(config)):
        raise ConfigError(key, "is required")


def on_hello(function):
    """`function(config)` checks hello.config; what it returns, unless None, is the handlers' config."""
    _handlers["hello"] = function
    return function


def policy(function):
    """`function(request, resubmission, config)` returns issue(), deny() or pend()."""
    _handlers["policy"] = function
    return function


def exit_handler(events):
    """`function(event, config)` publishes one event, or raises to have it delivered again."""
    events = list(events)
    if not events or not set(events) <= set(EVENTS):
        raise ValueError(f"events must be some of {', '.join(EVENTS)}, not {events}")

    def register(function):
        _handlers["exit"], _handlers["events"] = function, events
        return function
    return register


def _answer_policy(message, config):
    _fields(message, "verify_request", {"type": str, "resubmission": bool, "request": dict})
    request = Request(message["request"])
    try:
        verdict = _handlers["policy"](request, message["resubmission"], config)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"the policy returned {type(verdict).__name__}, not issue(), deny() or pend()")
        return _encode(verdict)
    except Exception as error:
        traceback.print_exc()
        return _encode(pend(f"the policy module failed: {type(error).__name__}: {error}"[:4000]))


def _answer_exit(message, config):
    event = _event(message)
    if event is None:  # a part of a CRL; the handler gets the event with its last part
        return _encode({"type": "ack"})
    try:
        _handlers["exit"](event, config)
    except Exception as error:
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        _fail(8, f"event {event.id} ({event.event}) not published: {last}")
    return _encode({"type": "ack"})


def run(name=None):
    """Answers hello, then each verify_request or notify, until shutdown (exit status 0)."""
    _state["name"] = name or _state["name"]
    sys.stdout = sys.stderr  # a stray print() must not corrupt the frames
    try:
        hello = read_message()
        if hello.get("type") != "hello":
            raise ProtocolError(f"the first message must be a hello, not {hello.get('type')!r}")
        _fields(hello, "hello", {"type": str, "protocol": int, "role": str, "config": dict}, {"ca": str})
        role, config = hello["role"], hello["config"]
        if hello["protocol"] != 1 or role not in ("policy", "exit"):
            raise ProtocolError(f"hello asks for protocol {hello['protocol']}, role {role!r}")
        if _handlers[role] is None:
            _fail(3, f"this module has no @{'policy' if role == 'policy' else 'exit_handler'} function: "
                     f"it cannot serve as a {role} module")
        try:
            checked = _handlers["hello"] and _handlers["hello"](config)
        except Exception as error:
            _fail(3, f"refusing the configuration: {error if isinstance(error, ConfigError) else repr(error)}")
        config = config if checked is None else checked
        answer = {"type": "hello", "protocol": 1, "name": _state["name"]}
        if role == "exit":
            answer["events"] = _handlers["events"]
        write_message(answer)
        expected, answer_one = ("verify_request", _answer_policy) if role == "policy" else ("notify", _answer_exit)
        while True:
            message = read_message()
            if message.get("type") == "shutdown":
                _fields(message, "shutdown", {"type": str})
                sys.exit(0)
            if message.get("type") != expected:
                raise ProtocolError(f"a {role} module takes no message of type {message.get('type')!r}")
            _write(answer_one(message, config))
    except ProtocolError as error:
        _fail(4, f"the engine broke the protocol: {error}")
