"""Tests of the Python module SDK (modules/sdk/python/custos_module.py) and its examples.

Each module runs as a subprocess, as the host would start it, and the test
plays the engine: frames over pipes, every wait bounded.

    python3 -m unittest tests/python/test_custos_module.py -v     (from the repository root)
"""
import base64
import http.server
import json
import os
import queue
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "modules" / "sdk" / "python"
EXAMPLES = ROOT / "modules" / "sdk" / "examples"
TIMEOUT = 5  # seconds, for every wait

sys.dont_write_bytecode = True
sys.path.insert(0, str(SDK))
import custos_module  # noqa: E402

REQUEST = {
    "id": 7,
    "csr": base64.b64encode(b"\x30\x03\x02\x01\x00").decode(),
    "subject": "CN=www.example.com,O=Example",
    "san": [{"type": "dns", "value": "www.example.com"}],
    "key": {"type": "ec", "curve": "P-256"},
    "attributes": {"profile": "tls-server"},
    "requested_extensions": [{"oid": "2.5.29.17", "critical": False, "der": base64.b64encode(b"\x30\x00").decode()}],
}


def request_with(*dns_names):
    return dict(REQUEST, san=[{"type": "dns", "value": name} for name in dns_names])


def verify(request, resubmission=False):
    return {"type": "verify_request", "resubmission": resubmission, "request": request}


def hello(role, config=None):
    return {"type": "hello", "protocol": 1, "role": role, "config": config or {}}


def frame(message):
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


class Module:
    """A module process; the test is its engine."""

    def __init__(self, path):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "PYTHONPATH": str(SDK), "PYTHONDONTWRITEBYTECODE": "1"}  # no proxy variables
        self.stderr_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.stderr_file, env=env)
        self.frames = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        stream = self.process.stdout
        while True:
            header = stream.read(4)
            if len(header) < 4:
                self.frames.put(None)
                return
            self.frames.put(json.loads(stream.read(struct.unpack(">I", header)[0])))

    def send_bytes(self, data):
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def ask(self, message):
        self.send_bytes(frame(message))
        return self.receive()

    def receive(self):
        try:
            answer = self.frames.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no answer within {TIMEOUT} s; stderr: {self.stderr()}") from None
        if answer is None:
            raise AssertionError(f"the module closed stdout (status {self.wait()}); stderr: {self.stderr()}")
        return answer

    def wait(self):
        return self.process.wait(timeout=TIMEOUT)

    def shutdown(self):
        self.send_bytes(frame({"type": "shutdown"}))
        return self.wait()

    def stderr(self):
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except BrokenPipeError:
                pass
        self.stderr_file.close()


class Server:
    """An http.server on 127.0.0.1 in a thread; `respond(handler)` answers each request."""

    def __init__(self, respond):
        outer = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
                status, body = respond(self)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.running = True

    def stop(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=TIMEOUT)
            self.running = False


class ModuleTestCase(unittest.TestCase):
    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.directory = Path(directory.name)

    def start(self, path):
        module = Module(path)
        self.addCleanup(module.close)
        return module

    def start_inline(self, source):
        path = self.directory / "module.py"
        path.write_text(textwrap.dedent(source))
        return self.start(path)

    def serve(self, respond):
        server = Server(respond)
        self.addCleanup(server.stop)
        return server


class PolicyTest(ModuleTestCase):
    def allowlist(self):
        allowed = {"www.example.com", "api.example.com"}

        def respond(handler):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
            return 200, {"allowed": query.get("name", [""])[0] in allowed}
        return self.serve(respond)

    def test_hello_for_the_policy_role(self):
        server = self.allowlist()
        module = self.start(EXAMPLES / "san_allowlist_policy.py")
        answer = module.ask(hello("policy", {"allowlist_url": server.url + "/allowed"}))
        self.assertEqual(answer, {"type": "hello", "protocol": 1, "name": "san-allowlist"})
        self.assertEqual(module.shutdown(), 0)

    def test_san_allowlist_issues_denies_and_pends(self):
        server = self.allowlist()
        module = self.start(EXAMPLES / "san_allowlist_policy.py")
        module.ask(hello("policy", {"allowlist_url": server.url + "/allowed"}))

        verdict = module.ask(verify(request_with("www.example.com", "api.example.com")))
        self.assertEqual(verdict["decision"], "issue", verdict)
        self.assertNotIn("certificate", verdict)
        self.assertEqual(set(verdict), {"type", "decision", "message"})
        self.assertEqual([query for _, query, _, _ in server.requests],
                         ["/allowed?name=www.example.com", "/allowed?name=api.example.com"])

        verdict = module.ask(verify(request_with("www.example.com", "evil.example.com", "bad.example.com")))
        self.assertEqual(verdict["decision"], "deny", verdict)
        self.assertIn("evil.example.com", verdict["message"])
        self.assertNotIn("bad.example.com", verdict["message"])

        server.stop()
        verdict = module.ask(verify(request_with("www.example.com"), resubmission=True))
        self.assertEqual(verdict["decision"], "pend", verdict)
        self.assertIn("www.example.com", verdict["message"])
        self.assertIn("refused", verdict["message"].lower())
        self.assertEqual(module.shutdown(), 0)

    def test_san_allowlist_server_error_pends(self):
        server = self.serve(lambda handler: (503, {"error": "busy"}))
        module = self.start(EXAMPLES / "san_allowlist_policy.py")
        module.ask(hello("policy", {"allowlist_url": server.url}))
        verdict = module.ask(verify(REQUEST))
        self.assertEqual(verdict["decision"], "pend", verdict)
        self.assertIn("503", verdict["message"])
        self.assertEqual(module.shutdown(), 0)

    def test_san_allowlist_refuses_an_unknown_key(self):
        module = self.start(EXAMPLES / "san_allowlist_policy.py")
        module.send_bytes(frame(hello("policy", {"allowlist_url": "http://127.0.0.1:9/", "colour": "blue"})))
        self.assertEqual(module.wait(), 3)
        self.assertIn("'colour'", module.stderr())

    def test_san_allowlist_needs_its_url(self):
        module = self.start(EXAMPLES / "san_allowlist_policy.py")
        module.send_bytes(frame(hello("policy")))
        self.assertEqual(module.wait(), 3)
        self.assertIn("'allowlist_url'", module.stderr())

    def test_a_policy_module_refuses_the_exit_role(self):
        module = self.start(EXAMPLES / "san_allowlist_policy.py")
        module.send_bytes(frame(hello("exit", {"allowlist_url": "http://127.0.0.1:9/"})))
        self.assertEqual(module.wait(), 3)
        self.assertIn("exit module", module.stderr())

    def test_an_exception_in_a_policy_pends_naming_it(self):
        module = self.start_inline("""
            import custos_module as custos

            @custos.policy
            def verify(request, resubmission, config):
                print("a stray print goes to stderr")
                if request.id == 7:
                    raise LookupError("no such team: " + request.attributes["profile"])
                return custos.issue("fine", validity_days=30, san=[("dns", request.dns_names[0])],
                                    extensions_add=[custos.Extension("1.2.3.4", False, b"\\x05\\x00")],
                                    extensions_remove=["2.5.29.37"])

            custos.run(name="inline")
        """)
        self.assertEqual(module.ask(hello("policy")), {"type": "hello", "protocol": 1, "name": "inline"})
        verdict = module.ask(verify(REQUEST))
        self.assertEqual(verdict["decision"], "pend", verdict)
        self.assertIn("LookupError", verdict["message"])
        self.assertIn("no such team: tls-server", verdict["message"])
        verdict = module.ask(verify(dict(REQUEST, id=8)))
        self.assertEqual(verdict, {"type": "verdict", "decision": "issue", "message": "fine", "certificate": {
            "san": [{"type": "dns", "value": "www.example.com"}], "validity_days": 30,
            "extensions_add": [{"oid": "1.2.3.4", "critical": False, "der": "BQA="}],
            "extensions_remove": ["2.5.29.37"]}})
        self.assertEqual(module.shutdown(), 0)
        self.assertIn("a stray print goes to stderr", module.stderr())
        self.assertIn("Traceback", module.stderr())

    def test_a_bad_oid_in_a_verdict_pends(self):
        module = self.start_inline("""
            import custos_module as custos
            custos.policy(lambda request, resubmission, config: custos.issue(extensions_remove=["2.5.29.019"]))
            custos.run()
        """)
        module.ask(hello("policy"))
        verdict = module.ask(verify(REQUEST))
        self.assertEqual(verdict["decision"], "pend", verdict)
        self.assertIn("ValueError", verdict["message"])
        self.assertIn("2.5.29.019", verdict["message"])
        self.assertEqual(module.shutdown(), 0)


class ExitTest(ModuleTestCase):
    def test_hello_for_the_exit_role(self):
        module = self.start(EXAMPLES / "webhook_exit.py")
        answer = module.ask(hello("exit", {"url": "http://127.0.0.1:9/hook"}))
        self.assertEqual(answer, {"type": "hello", "protocol": 1, "name": "webhook", "events": ["certificate_issued"]})
        self.assertEqual(module.shutdown(), 0)

    def test_webhook_posts_and_acks(self):
        server = self.serve(lambda handler: (200, {"ok": True}))
        module = self.start(EXAMPLES / "webhook_exit.py")
        module.ask(hello("exit", {"url": server.url + "/hook"}))
        der = bytes(range(256)) * 2
        notify = {"type": "notify", "id": 42, "event": "certificate_issued", "request": REQUEST,
                  "certificate": {"serial": "0A1B2C", "der": base64.b64encode(der).decode()}}
        self.assertEqual(module.ask(notify), {"type": "ack"})
        self.assertEqual(len(server.requests), 1)
        method, path, headers, body = server.requests[0]
        self.assertEqual((method, path), ("POST", "/hook"))
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["Custos-Event-Id"], "42")
        posted = json.loads(body)
        self.assertEqual(set(posted), {"serial", "certificate_pem"})
        self.assertEqual(posted["serial"], "0A1B2C")
        lines = posted["certificate_pem"].splitlines()
        self.assertEqual((lines[0], lines[-1]), ("-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"))
        self.assertTrue(all(len(line) <= 64 for line in lines[1:-1]))
        self.assertEqual(base64.b64decode("".join(lines[1:-1])), der)
        self.assertEqual(module.shutdown(), 0)

    def test_a_failed_post_exits_8_for_redelivery(self):
        server = self.serve(lambda handler: (500, {"error": "down"}))
        module = self.start(EXAMPLES / "webhook_exit.py")
        module.ask(hello("exit", {"url": server.url + "/hook"}))
        notify = {"type": "notify", "id": 43, "event": "certificate_issued",
                  "certificate": {"serial": "0A", "der": "MAA="}}
        module.send_bytes(frame(notify))
        self.assertEqual(module.wait(), 8)
        self.assertIsNone(module.frames.get(timeout=TIMEOUT))  # no ack
        self.assertIn("event 43", module.stderr())
        self.assertIn("HTTPError", module.stderr())
        self.assertEqual(len(server.requests), 1)

    def test_an_exit_module_refuses_the_policy_role(self):
        module = self.start(EXAMPLES / "webhook_exit.py")
        module.send_bytes(frame(hello("policy", {"url": "http://127.0.0.1:9/hook"})))
        self.assertEqual(module.wait(), 3)

    def test_an_inline_exit_sees_decoded_events(self):
        module = self.start_inline("""
            import custos_module as custos

            @custos.exit_handler(events=["crl_issued", "request_denied"])
            def log(event, config):
                print(repr((event.id, event.event, event.crl, event.certificate,
                            event.request and event.request.csr, event.request and event.request.san)))

            custos.run(name="inline-exit")
        """)
        answer = module.ask(hello("exit"))
        self.assertEqual(answer["events"], ["crl_issued", "request_denied"])
        crl = {"type": "notify", "id": 1, "event": "crl_issued", "crl": {"number": 5, "der": "AQID"}}
        self.assertEqual(module.ask(crl), {"type": "ack"})
        denied = {"type": "notify", "id": 2, "event": "request_denied", "request": REQUEST}
        self.assertEqual(module.ask(denied), {"type": "ack"})
        self.assertEqual(module.shutdown(), 0)
        self.assertIn("(1, 'crl_issued', Crl(number=5, der=b'\\x01\\x02\\x03'), None, None, None)", module.stderr())
        self.assertIn("(2, 'request_denied', None, None, b'0\\x03\\x02\\x01\\x00', "
                      "[SAN(type='dns', value='www.example.com')])", module.stderr())


    def test_a_crl_in_parts_reaches_the_handler_once_whole(self):
        module = self.start_inline("""
            import custos_module as custos

            @custos.exit_handler(events=["crl_issued"])
            def log(event, config):
                print(repr((event.id, event.crl.number, len(event.crl.der), event.crl.der[:3], event.crl.der[-3:])))

            custos.run(name="parts-exit")
        """)
        module.ask(hello("exit"))
        der = bytes(range(256)) * 5  # 1,280 bytes in parts of 512, as the engine sends a CRL over a frame
        def part(offset):
            chunk = base64.b64encode(der[offset:offset + 512]).decode()
            return {"type": "notify", "id": 3, "event": "crl_issued",
                    "crl": {"number": 8, "der": chunk, "offset": offset, "size": len(der)}}
        # A delivery that failed after its first part starts again from it.
        for offset in (0, 0, 512, 1024):
            self.assertEqual(module.ask(part(offset)), {"type": "ack"})
        self.assertEqual(module.shutdown(), 0)
        self.assertEqual(module.stderr().count("(3, 8, 1280, b'\\x00\\x01\\x02', b'\\xfd\\xfe\\xff')"), 1,
                         module.stderr())

    def test_a_crl_part_out_of_order_exits_4(self):
        module = self.start_inline("""
            import custos_module as custos
            custos.exit_handler(events=["crl_issued"])(lambda event, config: None)
            custos.run(name="parts-exit")
        """)
        module.ask(hello("exit"))
        stray = {"type": "notify", "id": 3, "event": "crl_issued",
                 "crl": {"number": 8, "der": "AQID", "offset": 512, "size": 1280}}
        module.send_bytes(frame(stray))
        self.assertEqual(module.wait(), 4)
        self.assertIn("does not follow the part before it", module.stderr())

class FramingTest(ModuleTestCase):
    SOURCE = """
        import custos_module as custos
        custos.policy(lambda request, resubmission, config: custos.deny("no"))
        custos.run(name="framing")
    """

    def test_end_of_input_before_a_frame_exits_0(self):
        module = self.start_inline(self.SOURCE)
        module.ask(hello("policy"))
        module.process.stdin.close()
        self.assertEqual(module.wait(), 0)

    def test_a_frame_over_the_limit_exits_4(self):
        module = self.start_inline(self.SOURCE)
        module.ask(hello("policy"))
        module.send_bytes(struct.pack(">I", 1_048_577))
        self.assertEqual(module.wait(), 4)
        self.assertIn("1048577", module.stderr())

    def test_an_empty_frame_exits_4(self):
        module = self.start_inline(self.SOURCE)
        module.send_bytes(struct.pack(">I", 0))
        self.assertEqual(module.wait(), 4)

    def test_a_frame_that_is_not_json_exits_4(self):
        module = self.start_inline(self.SOURCE)
        module.send_bytes(struct.pack(">I", 3) + b"\xff{}")
        self.assertEqual(module.wait(), 4)

    def test_a_truncated_frame_exits_5(self):
        module = self.start_inline(self.SOURCE)
        module.send_bytes(struct.pack(">I", 10) + b"{}")
        module.process.stdin.close()
        self.assertEqual(module.wait(), 5)

    def test_an_unknown_message_type_exits_4(self):
        module = self.start_inline(self.SOURCE)
        module.ask(hello("policy"))
        module.send_bytes(frame({"type": "reticulate"}))
        self.assertEqual(module.wait(), 4)
        self.assertIn("reticulate", module.stderr())

    def test_an_unknown_field_exits_4(self):
        module = self.start_inline(self.SOURCE)
        module.ask(hello("policy"))
        module.send_bytes(frame(dict(verify(REQUEST), extra=1)))
        self.assertEqual(module.wait(), 4)
        self.assertIn("'extra'", module.stderr())

    def test_shutdown_exits_0(self):
        module = self.start_inline(self.SOURCE)
        module.ask(hello("policy"))
        self.assertEqual(module.ask(verify(REQUEST))["decision"], "deny")
        self.assertEqual(module.shutdown(), 0)
        self.assertEqual(module.stderr(), "")


class VerdictTest(unittest.TestCase):
    def test_non_canonical_oids_raise(self):
        for oid in ("2.5.29.019", "1.40", "3.1", "2", "2..5", "2.5.", " 2.5.29.17", "2.5.29.17\n", "1.2.a", "01.2"):
            with self.subTest(oid=oid):
                with self.assertRaises(ValueError):
                    custos_module.issue(extensions_remove=[oid])
                with self.assertRaises(ValueError):
                    custos_module.issue(extensions_add=[(oid, False, b"\x05\x00")])

    def test_canonical_oids_pass(self):
        for oid in ("2.5.29.17", "1.39", "0.0", "2.999.1", "1.3.6.1.4.1.311.21.7", "2.25." + "9" * 38):
            with self.subTest(oid=oid):
                self.assertEqual(custos_module.issue(extensions_remove=[oid])["certificate"],
                                 {"extensions_remove": [oid]})

    def test_engine_owned_extensions_raise(self):
        for oid in ("2.5.29.19", "2.5.29.14", "2.5.29.35"):
            with self.assertRaises(ValueError):
                custos_module.issue(extensions_remove=[oid])

    def test_verdict_shapes(self):
        self.assertEqual(custos_module.issue(), {"type": "verdict", "decision": "issue", "message": ""})
        self.assertEqual(custos_module.issue("ok", extensions_add=[], extensions_remove=[]),
                         {"type": "verdict", "decision": "issue", "message": "ok"})
        self.assertEqual(custos_module.deny("no"), {"type": "verdict", "decision": "deny", "message": "no"})
        self.assertEqual(custos_module.pend("wait"), {"type": "verdict", "decision": "pend", "message": "wait"})
        self.assertEqual(custos_module.issue(subject="CN=a", san=[{"type": "ip", "value": "192.0.2.1"}])["certificate"],
                         {"subject": "CN=a", "san": [{"type": "ip", "value": "192.0.2.1"}]})
        for bad in ({"validity_days": 0}, {"validity_days": True}, {"san": [("dn", "x")]}):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                custos_module.issue(**bad)

    def test_unknown_events_raise(self):
        with self.assertRaises(ValueError):
            custos_module.exit_handler(events=["certificate_minted"])


if __name__ == "__main__":
    unittest.main()
