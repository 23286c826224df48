# shellcheck shell=bash
# Shared setup for the benchmark scripts (bench/status_rates.sh,
# bench/compare); source it, then call bench_setup first:
#
#   . "$(dirname "$0")/lib.sh"
#   bench_setup BUILD_DIR      # build, bin, here, work (a temporary folder)
#   cd "$work"
#   bench_softhsm custos       # a private SoftHSM store and a token in it
#   bench_ca ca                # an ECDSA P-256 CA, leaf.csr, client.pem, ocsp.der
#   bench_start_custosd ca     # custosd on 127.0.0.1: $https and $plain
#   bench_load --csr leaf.csr 16 5   # → "rate p99_ms failed"
#
# Everything lives in $work, removed at exit; every process started here
# is stopped at exit, by its id, newest first (bench_at_exit).

# bench_setup BUILD_DIR
bench_setup() {
  build=$(cd "$1" && pwd)
  bin=$build/bin
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  work=$(mktemp -d /tmp/custos-bench.XXXXXX)
  bench_cleanups=()
  custosd_pid=
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # Token stores that sign_bench and issue_bench make for themselves go here too.
  mkdir "$work/tmp"
}

# bench_at_exit COMMAND: run COMMAND (a string for eval) at exit.
bench_at_exit() { bench_cleanups+=("$1"); }

bench_cleanup() {
  local i
  for ((i = ${#bench_cleanups[@]} - 1; i >= 0; i--)); do eval "${bench_cleanups[i]}" || true; done
  rm -rf "$work"
}

# bench_stop PID: stop a process this script started, and wait for it.
bench_stop() {
  [ -n "${1:-}" ] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# bench_softhsm LABEL...: a private SoftHSMv2 store in $work/tokens (exported
# as SOFTHSM2_CONF), a token of each LABEL (user PIN 1234), and the PIN
# file $work/pin.
bench_softhsm() {
  mkdir -p "$work/tokens"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" >"$work/softhsm2.conf"
  export SOFTHSM2_CONF=$work/softhsm2.conf
  local label
  for label in "$@"; do
    softhsm2-util --init-token --free --label "$label" --pin 1234 --so-pin 5678 >/dev/null
  done
  bench_pin
}

bench_pin() {
  printf '1234\n' >"$work/pin"
  chmod 600 "$work/pin"
}

# bench_raw_rate FAMILY SECONDS: the token's raw ECDSA P-256 signatures per
# second (sign_bench, one thread, a fresh token of FAMILY).
bench_raw_rate() {
  CUSTOS_TEST_TOKEN=$1 TMPDIR=$work/tmp "$bin/sign_bench" --benchmark_filter='EcP256/real_time/threads:1$' \
    --benchmark_min_time="$2" --benchmark_format=json 2>/dev/null |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["benchmarks"][0]["items_per_second"], 1))'
}

# bench_ca DIR: `custos init` of an ECDSA P-256 CA in DIR (the token of
# bench_softhsm, or CUSTOS_HSM_MODULE's), then in $work: leaf.csr (a server
# request for www.example.com), client.key/client.pem (a client certificate
# for load_client), leaf.pem, and ocsp.der (an OCSP request for leaf.pem,
# with a nonce).
bench_ca() {
  bench_ca_dir=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  "$bin/custos" --dir "$1" init --subject "CN=Bench CA" --key ec-p256 --pin-file "$work/pin" >/dev/null 2>&1
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/leaf.key" -subj /CN=www.example.com \
    -addext subjectAltName=DNS:www.example.com -out "$work/leaf.csr" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/client.key" -subj /CN=bench \
    -addext subjectAltName=email:bench@example.com -out "$work/client.csr" 2>/dev/null
  "$bin/custos" --dir "$1" submit --csr "$work/leaf.csr" --out "$work/leaf.pem" --pin-file "$work/pin" >/dev/null
  "$bin/custos" --dir "$1" submit --csr "$work/client.csr" --profile client --out "$work/client.pem" \
    --pin-file "$work/pin" >/dev/null
  openssl ocsp -issuer "$1/ca.pem" -cert "$work/leaf.pem" -reqout "$work/ocsp.der" >/dev/null
}

# bench_start_custosd DIR: custosd on DIR, HTTPS on 127.0.0.1:$https and plain
# HTTP (/crl, /ocsp) on 127.0.0.1:$plain; returns once /crl answers.
bench_start_custosd() {
  read -r https plain <<<"$("$here/scripts/free-ports" 2)"
  "$bin/custosd" --dir "$1" --pin-file "$work/pin" --listen "127.0.0.1:$https" --plain-listen "127.0.0.1:$plain" \
    >>"$work/custosd.log" 2>&1 &
  custosd_pid=$!
  bench_at_exit 'bench_stop_custosd'
  local _
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$plain/crl" && return 0; sleep 0.1; done
  echo "custosd did not start:" >&2
  tail -20 "$work/custosd.log" >&2
  return 1
}

bench_stop_custosd() {
  bench_stop "$custosd_pid"
  custosd_pid=
}

# bench_front_end_pid: the custos-http that serves: the sandboxed child of
# the one custosd started (which only waits for it), or that one itself
# where there was no pid namespace to fork into. Fails when there is none.
bench_front_end_pid() {
  local waiting child
  waiting=$(pgrep -P "$custosd_pid" -x custos-http | head -1) || return 1
  child=$(pgrep -P "$waiting" | head -1) || true
  echo "${child:-$waiting}"
}

# bench_resident_mb PID: its resident memory, MB.
# Fails when the process is gone.
bench_resident_mb() {
  awk '/^VmRSS:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status" 2>/dev/null
}

# bench_load --csr FILE|--ocsp FILE CLIENTS SECONDS [load_client options]:
# load_client against custosd's HTTPS ($https) with bench_ca's client certificate;
# prints "rate p99_ms failed".
bench_load() {
  local mode=$1 file=$2 clients=$3 seconds=$4
  shift 4
  { "$bin/load_client" --url "127.0.0.1:$https" --ca "$bench_ca_dir/ca.pem" --cert "$work/client.pem" --key "$work/client.key" \
    "$mode" "$file" --clients "$clients" --seconds "$seconds" "$@" || true; } | python3 -c '
import re, sys
text = sys.stdin.read()
try:
    rate = re.search(r"\(([0-9.]+)/s\)", text).group(1)
    p99 = re.search(r"p99 ([0-9.]+)", text).group(1)
    failed = re.search(r"([0-9]+) failed", text).group(1)
    print(f"{float(rate):.1f} {float(p99):.1f} {failed}")
except AttributeError:
    print("0 0 -1")
    sys.stderr.write("load_client: " + text)'
}
