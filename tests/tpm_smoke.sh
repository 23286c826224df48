#!/usr/bin/env bash
# The main job on a TPM 2.0 token (tpm2-pkcs11 over swtpm, scripts/tpm-token):
# an ec-p256 and an rsa-3072 root, a certificate from an openssl req CSR that
# openssl verifies, rsa-4096 refused before anything is made. Each step's
# failure names itself; the TPM and its helpers are stopped however it ends.
#   tests/tpm_smoke.sh CUSTOS_BINARY
set -euo pipefail
custos=$1
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/custos-tpm.XXXXXX)
trap '"$here/scripts/tpm-token" stop "$work/tpm"; rm -rf "$work"' EXIT
eval "$("$here/scripts/tpm-token" start "$work/tpm")"
cd "$work"
token=(--hsm-module "$CUSTOS_TPM_MODULE" --token custos --pin-file "$work/tpm/pin")

for key in ec-p256 rsa-3072; do
  "$custos" --dir "ca-$key" init --subject "CN=TPM Root $key" --key "$key" "${token[@]}" >/dev/null
  grep -q "key_method = 'rsa-oaep'" "ca-$key/custos.toml" || { echo "ca-$key: the database key is not rsa-oaep" >&2; exit 1; }
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "www-$key.key" \
    -subj "/CN=www.example.com" -addext "subjectAltName=DNS:www.example.com" -out "www-$key.csr" 2>/dev/null
  "$custos" --dir "ca-$key" submit --csr "www-$key.csr" --out "www-$key.pem" "${token[@]}" >/dev/null
  openssl verify -CAfile "ca-$key/ca.pem" "www-$key.pem"
done

if "$custos" --dir ca-rsa-4096 init --subject "CN=Too Big" --key rsa-4096 "${token[@]}" 2>err.txt; then
  echo "rsa-4096 was accepted on a token that cannot make it" >&2
  exit 1
fi
grep -q "cannot generate rsa-4096" err.txt || { cat err.txt >&2; exit 1; }
[ ! -e ca-rsa-4096/custos.toml ] || { echo "a refused init left a CA behind" >&2; exit 1; }
echo "tpm smoke: ok"
