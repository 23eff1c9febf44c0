#!/usr/bin/env bash
# What Lifeguard's observability costs the pool target, each measured on and off in one
# run: three release builds of lifeguard-bench (plain; with feature `tracing`, spans
# compiled in and no subscriber; with feature `metrics`, run with --metrics so every
# query feeds the Prometheus series), run in turn, ROUNDS times, so that drift on a
# shared machine hits them all alike. Prints each run's q/s, the median of each, and
# the ratios to the plain build. It reports; it never fails because of a figure.
#
#   DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' benches/observability.sh
#
# Settings (environment): ROUNDS (5), MEASURE (5 seconds), WARMUP (1 second),
# CONCURRENCY (256), CONNECTIONS (2), WORKERS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to the server to load (the world table is created when absent)}"
rounds=${ROUNDS:-5}
measure=${MEASURE:-5}
warmup=${WARMUP:-1}
concurrency=${CONCURRENCY:-256}
connections=${CONNECTIONS:-2}
workers=${WORKERS:-2}

bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT
for variant in plain tracing metrics; do
    echo "building $variant (release)..." >&2
    features=()
    [ "$variant" != plain ] && features=(--features "$variant")
    # query! is checked against the committed .lifeguard/, not against DATABASE_URL.
    LIFEGUARD_OFFLINE=true cargo build -q --release -p lifeguard-bench "${features[@]}"
    cp target/release/lifeguard-bench "$bins/$variant"
done

# One run: prints its q/s.
run() {
    local variant=$1
    shift
    "$bins/$variant" --target pool --concurrency "$concurrency" --connections "$connections" \
        --seconds "$measure" --warmup-seconds "$warmup" --workers "$workers" \
        --url "$DATABASE_URL" "$@" 2>/dev/null | tail -n 1 | sed -n 's/.*qps=\([0-9]*\).*/\1/p'
}

declare -A results
echo "| round | plain q/s | tracing (no subscriber) q/s | metrics q/s |"
echo "|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
    plain=$(run plain)
    tracing=$(run tracing)
    metrics=$(run metrics --metrics)
    results[plain]+="$plain "
    results[tracing]+="$tracing "
    results[metrics]+="$metrics "
    echo "| $round | $plain | $tracing | $metrics |"
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
p=$(median "${results[plain]}")
t=$(median "${results[tracing]}")
m=$(median "${results[metrics]}")
echo
echo "medians over $rounds rounds: plain=$p tracing=$t metrics=$m"
awk -v p="$p" -v t="$t" -v m="$m" 'BEGIN {
    printf "tracing (no subscriber) / plain = %.4f (%+.2f%%)\n", t / p, (t / p - 1) * 100
    printf "metrics / plain                 = %.4f (%+.2f%%)\n", m / p, (m / p - 1) * 100
}'
