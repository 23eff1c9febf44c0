#!/usr/bin/env bash
# TechEmpower's database tests under load: the example service (examples/techempower,
# release build) on 127.0.0.1, loaded by wrk at 256 connections for /db,
# /queries?queries=20, /fortunes and /updates?queries=20; then /db and /queries again
# with reads sharing a Sync (LIFEGUARD_SHARE_SYNC=true: faster, but outside the
# benchmark's rules, which want a Sync per query); then lifeguard-bench's single-query
# figures for the pool on the same server, for comparison. One table at the end.
#
#   benches/techempower.sh                       # a private PostgreSQL, started and removed
#   DATABASE_URL=postgres://... benches/techempower.sh
#
# Settings (environment): DURATION (10 seconds measured per test), WARMUP (3 seconds,
# not recorded), CONNECTIONS (256), THREADS (wrk's, 2), PORT (8080). LIFEGUARD_*
# variables reach the service's pool (e.g. LIFEGUARD_CONNECTIONS); LIFEGUARD_SHARE_SYNC
# is set by the script itself.
#
# Columns: requests/s; wrk's latency percentiles; responses that were not 2xx and socket
# errors (both should be 0); the service's resident memory, the most seen while wrk ran
# (VmRSS sampled every 0.2 s), and its peak over its life (VmHWM). The lifeguard-bench
# rows are statements/s of the pool alone (256 coroutines, the service's connection
# count): what the handlers' figures can be held against. It reports; it never fails
# because of a figure. wrk comes from Debian's package (installed when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-10}
warmup=${WARMUP:-3}
connections=${CONNECTIONS:-256}
threads=${THREADS:-2}
port=${PORT:-8080}
addr="127.0.0.1:$port"

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk (Debian's package)..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

echo "building (release)..." >&2
cargo build -q --release -p lifeguard-techempower -p lifeguard-bench
cargo build -q --release -p lifeguard-harness --bin lifeguard-build-server
service_bin=target/release/techempower
bench_bin=target/release/lifeguard-bench

work=$(mktemp -d)
server=""
service=""
cleanup() {
    [ -n "$service" ] && kill "$service" 2>/dev/null && wait "$service" 2>/dev/null
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${DATABASE_URL:-}" ]; then
    echo "DATABASE_URL is unset: starting a private PostgreSQL" >&2
    target/release/lifeguard-build-server --schema queries/schema.sql >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 240); do
        grep -q '^DATABASE_URL=' "$work/server.log" && break
        kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
        sleep 0.25
    done
    grep -q '^DATABASE_URL=' "$work/server.log" || { echo "no server within 60 s" >&2; exit 1; }
    export "$(grep '^DATABASE_URL=' "$work/server.log")"
fi

# Starts the service with the environment given as arguments and waits (60 s at most)
# until it listens.
start_service() {
    env "$@" "$service_bin" "$addr" >"$work/service.out" 2>"$work/service.err" &
    service=$!
    for _ in $(seq 1 240); do
        grep -q '^listening on' "$work/service.out" && return 0
        kill -0 "$service" 2>/dev/null || { cat "$work/service.err" >&2; exit 1; }
        sleep 0.25
    done
    echo "the service did not listen within 60 s" >&2
    cat "$work/service.err" >&2
    exit 1
}

# Stops it gracefully (SIGTERM), 30 s at most, then for good.
stop_service() {
    kill -TERM "$service" 2>/dev/null || true
    for _ in $(seq 1 120); do
        kill -0 "$service" 2>/dev/null || break
        sleep 0.25
    done
    kill -KILL "$service" 2>/dev/null || true
    wait "$service" 2>/dev/null || true
    service=""
}

# The service's memory in KiB: field VmRSS or VmHWM of /proc/PID/status.
memory_kib() {
    awk -v key="$1:" '$1 == key { print $2 }' "/proc/$service/status" 2>/dev/null || echo 0
}

# Runs wrk on one path (warm-up, then the measured run) and prints one table row.
load() {
    local name=$1 path=$2 sync=$3
    wrk -t "$threads" -c "$connections" -d "${warmup}s" "http://$addr$path" >/dev/null 2>&1 || true
    local out=$work/wrk.out rss_max=0 rss
    wrk -t "$threads" -c "$connections" -d "${duration}s" --latency "http://$addr$path" >"$out" 2>&1 &
    local wrk_pid=$!
    while kill -0 "$wrk_pid" 2>/dev/null; do
        rss=$(memory_kib VmRSS)
        [ "${rss:-0}" -gt "$rss_max" ] && rss_max=$rss
        sleep 0.2
    done
    wait "$wrk_pid" || true
    awk -v name="$name" -v sync="$sync" -v rss="$rss_max" -v hwm="$(memory_kib VmHWM)" '
        /Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = $2 } /^ +75%/ { p75 = $2 } /^ +90%/ { p90 = $2 } /^ +99%/ { p99 = $2 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        /Socket errors:/ { errs = $0; sub(/.*Socket errors: */, "", errs) }
        END {
            printf "| %-20s | %-5s | %9s | %8s | %8s | %8s | %8s | %6s | %-40s | %7.1f | %7.1f |\n",
                name, sync, rps, p50, p75, p90, p99, bad == "" ? 0 : bad,
                errs == "" ? "none" : errs, rss / 1024, hwm / 1024
        }' "$out"
}

header="| test                 | share_sync | req/s | p50 | p75 | p90 | p99 | non-2xx | socket errors | RSS MiB (max under load) | VmHWM MiB |"
rows=$work/rows
: >"$rows"

load_before=$(cut -d ' ' -f 1-3 /proc/loadavg)
start_service LIFEGUARD_SHARE_SYNC=false
sed -n 's/^pool: /service pool: /p' "$work/service.err" >&2
for test in "db /db" "queries=20 /queries?queries=20" "fortunes /fortunes" "updates=20 /updates?queries=20"; do
    echo "wrk: ${test%% *} (share_sync off)..." >&2
    load ${test%% *} "${test#* }" off >>"$rows"
done
stop_service

start_service LIFEGUARD_SHARE_SYNC=true
for test in "db /db" "queries=20 /queries?queries=20"; do
    echo "wrk: ${test%% *} (share_sync on)..." >&2
    load ${test%% *} "${test#* }" on >>"$rows"
done
pool_connections=$(sed -n 's/^pool: \([0-9]*\) connections.*/\1/p' "$work/service.err")
stop_service

echo
echo "machine: $(nproc) CPUs, load average before the run: $load_before (wrk, the service and PostgreSQL share them)"
echo "$header"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
cat "$rows"

echo
echo "lifeguard-bench, the pool alone on the same server (single query, 256 coroutines, ${pool_connections:-2} connections):"
for target in pool-one-sync pool; do
    line=$("$bench_bin" --target "$target" --concurrency 256 --connections "${pool_connections:-2}" \
        --seconds "$duration" --warmup-seconds "$warmup" --url "$DATABASE_URL" 2>/dev/null | tail -n 1 || true)
    printf "  %-14s %s\n" "$target" "$line"
done
