#!/usr/bin/env python3
"""An example Custos policy module on the Python SDK (module protocol v1, see ../PROTOCOL.md).

It asks an allow-list service about every DNS name a request carries:
GET <allowlist_url>?name=<dns name>. It issues when the service answers
HTTP 200 with {"allowed": true} for each name, denies naming the first name
it refuses, and leaves the request pending (an administrator decides) when
the service cannot be reached or answers with a server error or no JSON.
In custos.toml:

    [policy]
    module = "exec:/usr/bin/python3 /opt/custos/san_allowlist_policy.py"
    allowlist_url = "http://192.0.2.10:8080/allowed"

Check it without a CA:  custos module test /usr/bin/python3 san_allowlist_policy.py
"""
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
sys.path.append("/usr/share/custos/python")
import custos_module as custos  # noqa: E402

BUDGET_SECONDS = 1.5  # for all the names together: inside [policy] timeout_ms, 2000 by default


class ServiceError(Exception):
    pass


@custos.on_hello
def configure(config):
    custos.check_config(config, known={"allowlist_url"}, required={"allowlist_url"})
    url = config["allowlist_url"]
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise custos.ConfigError("allowlist_url", "must be an http:// or https:// URL")


def allowed(url, name, deadline):
    """True or False as the service answers for `name`; ServiceError or OSError when it cannot say."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ServiceError("no time left to ask")
    query = url + ("&" if "?" in url else "?") + urllib.parse.urlencode({"name": name})
    try:
        with urllib.request.urlopen(query, timeout=remaining) as response:
            status, body = response.status, response.read(65536)
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            raise ServiceError(f"HTTP {error.code} {error.reason}") from None
        return False  # 4xx: refused
    if status != 200:
        return False
    try:
        answer = json.loads(body)
    except ValueError:
        raise ServiceError("an answer that is not JSON") from None
    return isinstance(answer, dict) and answer.get("allowed") is True


@custos.policy
def verify(request, resubmission, config):
    url, names = config["allowlist_url"], request.dns_names
    if not names:
        return custos.issue("no DNS name to check with the allow-list service")
    deadline = time.monotonic() + BUDGET_SECONDS
    for name in names:
        try:
            if not allowed(url, name, deadline):
                return custos.deny(f"the allow-list service refuses {name}")
        except (ServiceError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            return custos.pend(f"cannot check {name} with the allow-list service at {url}: {reason}")
    return custos.issue("the allow-list service allows " + ", ".join(names))


if __name__ == "__main__":
    custos.run(name="san-allowlist")
