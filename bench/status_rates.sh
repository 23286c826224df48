#!/usr/bin/env bash
# Issuance and OCSP through custosd on one token family, each alone and
# both at once, beside the reference: the token's raw signature rate
# (sign_bench, one thread). Prints each rate and its ratio to the raw rate.
#
#   bench/status_rates.sh BUILD_DIR softhsm|tpm [SECONDS]
#
# An ECDSA P-256 CA; issuance from 16 HTTPS clients, OCSP (POST, signed
# afresh each time) from 8; the CA and the token live in a temporary folder
# (bench/lib.sh).
set -euo pipefail
usage="usage: $0 BUILD_DIR softhsm|tpm [SECONDS]"
# shellcheck source=bench/lib.sh source-path=SCRIPTDIR/..
. "$(dirname "$0")/lib.sh"
bench_setup "${1:?$usage}"
family=${2:?$usage}
seconds=${3:-10}
cd "$work"

case "$family" in
  softhsm) bench_softhsm custos ;;
  tpm)
    # shellcheck disable=SC2016
    bench_at_exit '"$here/scripts/tpm-token" stop "$work/tpm"'
    eval "$("$here/scripts/tpm-token" start "$work/tpm" custos 1234)"
    export CUSTOS_HSM_MODULE=$CUSTOS_TPM_MODULE
    bench_pin
    ;;
  *) echo "the family is softhsm or tpm" >&2; exit 2 ;;
esac

# The reference: raw signatures per second on a fresh token of the family.
raw=$(bench_raw_rate "$family" 2)

bench_ca ca
bench_start_custosd ca

load() { bench_load "$1" "$2" "$3" "$seconds"; }  # MODE FILE CLIENTS → "rate p99 failed"
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
