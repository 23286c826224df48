#!/usr/bin/env bash
# custosd@.service: its exposure by `systemd-analyze security --offline=yes`
# is 2.0 or less; and custosd speaks the notify protocol the unit relies on
# (Type=notify, WatchdogSec=, ExecReload=): READY=1, WATCHDOG=1 while it
# runs, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM — with the
# PIN from a credentials directory as LoadCredential= gives it. systemd does
# not run here, so a Python socket plays its part.
#   tests/systemd_unit.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
unit=$here/packaging/systemd/custosd@.service

score=$(systemd-analyze security --offline=yes "$unit" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "exposure of custosd@.service: $score"
systemd-analyze security --offline=yes --threshold=20 "$unit" >/dev/null 2>&1 ||
  { echo "custosd@.service is exposed above 2.0" >&2; exit 1; }

work=$(mktemp -d /tmp/custos-systemd.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir tokens credentials
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" >softhsm2.conf
export SOFTHSM2_CONF=$work/softhsm2.conf
softhsm2-util --init-token --free --label custos --pin 1234 --so-pin 5678 >/dev/null
printf '1234\n' >credentials/pin
chmod 600 credentials/pin
"$build/bin/custos" --dir ca init --subject "CN=Unit Root" --key ec-p256 --pin-file credentials/pin >/dev/null 2>&1

CREDENTIALS_DIRECTORY=$work/credentials python3 - "$build/bin/custosd" "$work" <<'PY'
import os, signal, socket, subprocess, sys, time
custosd, work = sys.argv[1], sys.argv[2]
path = os.path.join(work, "notify")
listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
listener.bind(path)
listener.settimeout(1)
environment = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="3000000")
daemon = subprocess.Popen([custosd, "--dir", os.path.join(work, "ca"), "--pin-file",
                           os.path.join(os.environ["CREDENTIALS_DIRECTORY"], "pin"), "--listen", "off"],
                          env=environment, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "custosd.log"), "w"))
said = []
def listen(seconds):
    end = time.time() + seconds
    while time.time() < end:
        try:
            said.extend(listener.recv(4096).decode().split("\n"))
        except socket.timeout:
            pass
listen(4)
daemon.send_signal(signal.SIGHUP)
listen(2)
daemon.send_signal(signal.SIGTERM)
daemon.wait(timeout=30)
listen(1)
def after(first, then):
    return first in said and then in said[said.index(first) + 1:]
checks = {
    "READY=1 once serving": "READY=1" in said,
    "WATCHDOG=1 at least twice": said.count("WATCHDOG=1") >= 2,
    "RELOADING=1 then READY=1 on SIGHUP": after("RELOADING=1", "READY=1"),
    "STOPPING=1 on SIGTERM": "STOPPING=1" in said,
    "exit status 0": daemon.returncode == 0,
}
failed = [name for name, held in checks.items() if not held]
if failed:
    print("custosd and the notify protocol:", ", ".join(failed), "— it said", said, file=sys.stderr)
    print(open(os.path.join(work, "custosd.log")).read(), file=sys.stderr)
    sys.exit(1)
PY
echo "systemd unit: ok"
