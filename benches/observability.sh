#!/usr/bin/env bash
# What Lifeguard's observability costs the pool target, each measured on and off in one
# run: three release builds of lifeguard-bench (plain; with feature `tracing`, spans
# compiled in and no subscriber; with feature `metrics`, run with --metrics so every
# query feeds the Prometheus series), run in turn, ROUNDS times, so that drift on a
# shared machine hits them all alike. Prints each run's q/s and client CPU per query
# (lifeguard-bench's getrusage over the measured window), the median of each, and the
# ratios to the plain build. On a busy machine q/s swings by more than the costs
# measured: read the CPU per query beside it. It reports; it never fails because of a
# figure.
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

# One run: prints its q/s and its client CPU microseconds per query.
run() {
    local variant=$1 line
    shift
    line=$("$bins/$variant" --target pool --concurrency "$concurrency" --connections "$connections" \
        --seconds "$measure" --warmup-seconds "$warmup" --workers "$workers" \
        --url "$DATABASE_URL" "$@" 2>/dev/null | tail -n 1)
    echo "$(sed -n 's/.*qps=\([0-9]*\).*/\1/p' <<<"$line") $(sed -n 's/.*cpu_us_per_query=\([0-9.]*\).*/\1/p' <<<"$line")"
}

declare -A results cpus
echo "| round | plain q/s (cpu us/q) | tracing, no subscriber | metrics |"
echo "|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
    row="| $round |"
    for variant in plain tracing metrics; do
        args=()
        [ "$variant" = metrics ] && args=(--metrics)
        read -r qps cpu < <(run "$variant" "${args[@]}")
        results[$variant]+="$qps "
        cpus[$variant]+="$cpu "
        row+=" $qps ($cpu) |"
    done
    echo "$row"
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
p=$(median "${results[plain]}")
t=$(median "${results[tracing]}")
m=$(median "${results[metrics]}")
pc=$(median "${cpus[plain]}")
tc=$(median "${cpus[tracing]}")
mc=$(median "${cpus[metrics]}")
echo
echo "medians over $rounds rounds: q/s plain=$p tracing=$t metrics=$m; cpu us/query plain=$pc tracing=$tc metrics=$mc"
awk -v p="$p" -v t="$t" -v m="$m" -v pc="$pc" -v tc="$tc" -v mc="$mc" 'BEGIN {
    printf "q/s:      tracing (no subscriber) / plain = %.4f (%+.2f%%)\n", t / p, (t / p - 1) * 100
    printf "q/s:      metrics / plain                 = %.4f (%+.2f%%)\n", m / p, (m / p - 1) * 100
    printf "cpu/query: tracing (no subscriber) / plain = %.4f (%+.2f%%)\n", tc / pc, (tc / pc - 1) * 100
    printf "cpu/query: metrics / plain                 = %.4f (%+.2f%%)\n", mc / pc, (mc / pc - 1) * 100
}'
