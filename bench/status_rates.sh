#!/usr/bin/env bash
# Issuance and OCSP through custosd on one token family, each alone and
# both at once, beside the reference: the token's raw signature rate
# (sign_bench, one thread). Prints each rate and its ratio to the raw rate.
#
#   bench/status_rates.sh BUILD_DIR softhsm|tpm [SECONDS]
#
# An ECDSA P-256 CA; issuance from 16 HTTPS clients, OCSP (POST, signed
# afresh each time) from 8; the CA and the token live in a temporary folder.
set -euo pipefail
build=$(cd "${1:?usage: $0 BUILD_DIR softhsm|tpm [SECONDS]}" && pwd)
family=${2:?usage: $0 BUILD_DIR softhsm|tpm [SECONDS]}
seconds=${3:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$build/bin
work=$(mktemp -d /tmp/custos-bench.XXXXXX)
daemon=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [ "$family" = tpm ] && "$here/scripts/tpm-token" stop "$work/tpm"
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

case "$family" in
  softhsm)
    mkdir tokens
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" >softhsm2.conf
    export SOFTHSM2_CONF=$work/softhsm2.conf
    softhsm2-util --init-token --free --label custos --pin 1234 --so-pin 5678 >/dev/null
    ;;
  tpm)
    eval "$("$here/scripts/tpm-token" start "$work/tpm" custos 1234)"
    export CUSTOS_HSM_MODULE=$CUSTOS_TPM_MODULE
    ;;
  *) echo "the family is softhsm or tpm" >&2; exit 2 ;;
esac
printf '1234\n' >pin
chmod 600 pin

# The reference: raw signatures per second on a fresh token of the family.
raw=$(CUSTOS_TEST_TOKEN=$family "$bin/sign_bench" --benchmark_filter='EcP256/real_time/threads:1$' \
  --benchmark_min_time=2 --benchmark_format=json 2>/dev/null |
  python3 -c 'import json,sys; print(round(json.load(sys.stdin)["benchmarks"][0]["items_per_second"], 1))')

"$bin/custos" --dir ca init --subject "CN=Bench CA" --key ec-p256 --pin-file pin >/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -subj /CN=www.example.com \
  -addext subjectAltName=DNS:www.example.com -out leaf.csr 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -subj /CN=bench \
  -addext subjectAltName=email:bench@example.com -out client.csr 2>/dev/null
"$bin/custos" --dir ca submit --csr leaf.csr --out leaf.pem --pin-file pin >/dev/null
"$bin/custos" --dir ca submit --csr client.csr --profile client --out client.pem --pin-file pin >/dev/null
openssl ocsp -issuer ca/ca.pem -cert leaf.pem -reqout ocsp.der >/dev/null

read -r https plain <<<"$("$here/scripts/free-ports" 2)"
"$bin/custosd" --dir ca --pin-file pin --listen "127.0.0.1:$https" --plain-listen "127.0.0.1:$plain" >custosd.log 2>&1 &
daemon=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$plain/crl" && break; sleep 0.1; done

load() {  # MODE CLIENTS → "rate p99"
  "$bin/load_client" --url "127.0.0.1:$https" --ca ca/ca.pem --cert client.pem --key client.key "$1" "$2" \
    --clients "$3" --seconds "$seconds" | python3 -c '
import re, sys
text = sys.stdin.read()
rate = re.search(r"\(([0-9.]+)/s\)", text).group(1)
p99 = re.search(r"p99 ([0-9.]+)", text).group(1)
failed = re.search(r"([0-9]+) failed", text).group(1)
print(f"{float(rate):.1f} {float(p99):.1f} {failed}")'
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
report() {  # WHAT "rate p99 failed"
  set -- "$1" $2
  echo "$1: $2/s (x$(ratio "$2" "$raw") of raw), p99 $3 ms, $4 failed"
}

echo "token family $family, ECDSA P-256, $seconds s per run"
echo "raw token signatures (sign_bench, 1 thread): $raw/s"
report "issuance alone, 16 clients" "$(load --csr leaf.csr 16)"
report "OCSP alone, 8 clients" "$(load --ocsp ocsp.der 8)"
load --csr leaf.csr 16 >both-issuance.txt &
issuing=$!
load --ocsp ocsp.der 8 >both-ocsp.txt
wait "$issuing"
report "issuance beside OCSP" "$(cat both-issuance.txt)"
report "OCSP beside issuance" "$(cat both-ocsp.txt)"
