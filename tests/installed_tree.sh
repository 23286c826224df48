#!/usr/bin/env bash
# An installed Custos works with no variable set: `cmake --install` into a
# staging DESTDIR, then the README's flow from there — a SoftHSM token, init,
# a request through the policy module host, openssl verify, and custosd
# (from sbin/) starting custos-http and answering /crl and OCSP; custos
# submitting through it by itself, and `custos serve` (custos-cli in
# libexec/ running custosd from sbin/).
#   tests/installed_tree.sh BUILD_DIR
set -euo pipefail
build=$1
scripts=$(cd "$(dirname "$0")/../scripts" && pwd)
work=$(mktemp -d /tmp/custos-installed.XXXXXX)
daemon=
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
DESTDIR=$work/root cmake --install "$build" --prefix /usr >/dev/null
usr=$work/root/usr
for file in bin/custos sbin/custosd libexec/custos/custos-cli libexec/custos/custos-module-host libexec/custos/custos-exit-ldap.so libexec/custos/custos-http \
  include/custos/custos_module.h include/custos/custos_module_v1.h share/doc/custos/PROTOCOL.md \
  share/doc/custos/examples/journal_exit.cpp share/custos/default-policy.toml \
  lib/systemd/system/custosd@.service lib/sysusers.d/custos.conf lib/tmpfiles.d/custos.conf; do
  [ -e "$usr/$file" ] || { echo "not installed: $file" >&2; exit 1; }
done
unset CUSTOS_MODULE_HOST CUSTOS_HTTP_FRONT_END CUSTOS_HSM_MODULE CUSTOS_DIR CUSTOS_PIN_FILE

cd "$work"
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" >softhsm2.conf
export SOFTHSM2_CONF=$work/softhsm2.conf
softhsm2-util --init-token --free --label custos --pin 1234 --so-pin 5678 >/dev/null
printf '1234\n' >pin
chmod 600 pin
"$usr/bin/custos" --dir ca init --subject "CN=Installed Root" --key ec-p256 --pin-file pin >/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout www.key -subj /CN=www.example.com \
  -addext subjectAltName=DNS:www.example.com -out www.csr 2>/dev/null
"$usr/bin/custos" --dir ca submit --csr www.csr --out www.pem --pin-file pin >/dev/null
openssl verify -CAfile ca/ca.pem www.pem

read -r https plain <<<"$("$scripts/free-ports" 2)"
# --dir=DIR after the other options: custosd takes it anywhere.
"$usr/sbin/custosd" --pin-file pin --listen "127.0.0.1:$https" --plain-listen "127.0.0.1:$plain" --dir=ca \
  >custosd.log 2>&1 &
daemon=$!
for _ in $(seq 100); do curl -sf -o crl.der "http://127.0.0.1:$plain/crl" && break; sleep 0.1; done
openssl crl -inform DER -in crl.der -CAfile ca/ca.pem -noout 2>&1 | grep -q "verify OK" ||
  { echo "no CRL from the installed custosd:" >&2; cat custosd.log >&2; exit 1; }
openssl ocsp -issuer ca/ca.pem -CAfile ca/ca.pem -cert www.pem -url "http://127.0.0.1:$plain/ocsp" 2>&1 |
  grep -q "www.pem: good" || { echo "no OCSP answer from the installed custosd" >&2; exit 1; }
"$usr/bin/custos" --dir ca submit --csr www.csr --out www-through-custosd.pem >/dev/null
openssl verify -CAfile ca/ca.pem www-through-custosd.pem

kill "$daemon"; wait "$daemon" 2>/dev/null || true
"$usr/bin/custos" --dir ca serve --pin-file pin --listen "127.0.0.1:$https" --plain-listen "127.0.0.1:$plain" \
  >custos-serve.log 2>&1 &
daemon=$!
for _ in $(seq 100); do curl -sf -o crl.der "http://127.0.0.1:$plain/crl" && break; sleep 0.1; done
openssl crl -inform DER -in crl.der -CAfile ca/ca.pem -noout 2>&1 | grep -q "verify OK" ||
  { echo "no CRL from custosd run by the installed custos serve:" >&2; cat custos-serve.log >&2; exit 1; }
echo "installed tree: ok"
