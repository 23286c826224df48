#!/usr/bin/env python3
"""An example Custos policy module (module protocol v1, see ../PROTOCOL.md).

It denies every request whose subject matches the regular expression in its
configuration and issues the rest, leaving the certificate's contents to
the profile. In custos.toml:

    [policy]
    module = "exec:/usr/bin/python3 /opt/custos/deny_subject_policy.py"
    deny_subject = "(?i)\\btest\\b"

Check it without a CA:  custos module test /usr/bin/python3 deny_subject_policy.py
"""
import json
import re
import struct
import sys

MAX_FRAME = 1_048_576
stream_in, stream_out = sys.stdin.buffer, sys.stdout.buffer


def read_message():
    header = stream_in.read(4)
    if len(header) < 4:
        sys.exit(0)  # the engine hung up
    (length,) = struct.unpack(">I", header)
    if not 1 <= length <= MAX_FRAME:
        sys.exit(4)
    return json.loads(stream_in.read(length))


def write_message(message):
    body = json.dumps(message).encode()
    stream_out.write(struct.pack(">I", len(body)) + body)
    stream_out.flush()


hello = read_message()
config = hello.get("config", {})
unknown = set(config) - {"deny_subject"}
if unknown:
    sys.stderr.write("deny_subject_policy: unknown configuration keys: %s\n" % ", ".join(sorted(unknown)))
    sys.exit(3)
pattern = re.compile(config.get("deny_subject", r"(?!)"))  # by default, deny nothing
write_message({"type": "hello", "protocol": 1, "name": "deny-subject"})

while True:
    message = read_message()
    if message["type"] == "shutdown":
        sys.exit(0)
    if message["type"] != "verify_request":
        sys.exit(4)
    subject = message["request"]["subject"]
    if pattern.search(subject):
        write_message({"type": "verdict", "decision": "deny",
                       "message": "the subject %s matches %s" % (subject, pattern.pattern)})
    else:
        write_message({"type": "verdict", "decision": "issue", "message": "no objection to " + subject})
