#!/usr/bin/env python3
"""An example Custos exit module on the Python SDK (module protocol v1, see ../PROTOCOL.md).

For each certificate_issued event it POSTs {"serial": ..., "certificate_pem": ...}
as JSON to the configured URL, with the event id in a Custos-Event-Id header
(delivery is at least once: the receiver can drop an id it has seen). An
answer other than 2xx, a timeout or a refused connection raises: the module
exits with status 8 and the engine delivers the event again later. In custos.toml:

    [[exit]]
    module = "exec:/usr/bin/python3 /opt/custos/webhook_exit.py"
    network = true              # the sandbox has no network otherwise
    url = "https://192.0.2.20/custos/issued"

Check it without a CA:  custos module test --role exit /usr/bin/python3 webhook_exit.py
"""
import base64
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
sys.path.append("/usr/share/custos/python")
import custos_module as custos  # noqa: E402

TIMEOUT_SECONDS = 1.5  # inside the [[exit]] table's timeout_ms (2000 by default)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirected POST would become a GET that posts nothing: fail instead


opener = urllib.request.build_opener(NoRedirect)


@custos.on_hello
def configure(config):
    custos.check_config(config, known={"url"}, required={"url"})
    if not isinstance(config["url"], str) or not config["url"].startswith(("http://", "https://")):
        raise custos.ConfigError("url", "must be an http:// or https:// URL")


def pem(der):
    text = base64.b64encode(der).decode()
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


@custos.exit_handler(events=["certificate_issued"])
def publish(event, config):
    if event.certificate is None:
        print(f"event {event.id} carries no certificate: nothing to post", file=sys.stderr)
        return
    body = json.dumps({"serial": event.certificate.serial, "certificate_pem": pem(event.certificate.der)})
    post = urllib.request.Request(config["url"], data=body.encode(), method="POST",
                                  headers={"Content-Type": "application/json", "Custos-Event-Id": str(event.id)})
    with opener.open(post, timeout=TIMEOUT_SECONDS) as response:  # raises HTTPError on 3xx, 4xx, 5xx
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{config['url']} answered HTTP {response.status}")


if __name__ == "__main__":
    custos.run(name="webhook")
