#!/usr/bin/env bash
# scripts/tpm-token start, told to use a port another process holds, still
# starts a TPM (on a fresh pair) and its token answers: a parallel test or
# a client's ephemeral port taking the pair between the look and swtpm's
# bind cost a whole test run once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
holder_pid=
cleanup() {
  "$root/scripts/tpm-token" stop "$work/tpm" || true
  [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Hold a listening port and print it; swtpm's control channel would go one up.
python3 -c '
import socket, sys, time
held = socket.socket()
held.bind(("127.0.0.1", 0))
held.listen()
print(held.getsockname()[1], flush=True)
time.sleep(300)
' >"$work/port" &
holder_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
busy=$(cat "$work/port")

eval "$(CUSTOS_TPM_PORT="$busy" "$root/scripts/tpm-token" start "$work/tpm" custos 1234)"
tpm2_getcap properties-fixed >/dev/null
grep -q 'custos' <(tpm2_ptool listtokens --pid=1 --path "$TPM2_PKCS11_STORE")
echo "tpm token busy port: ok"
