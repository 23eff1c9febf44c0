#!/usr/bin/env bash
# The single-query table, interleaved: every target on the same server in one run, in
# turn, two rounds, so that drift on a shared machine hits them all alike. Targets:
# lifeguard's pool (reads sharing a Sync, and with a Sync per request), its client,
# tokio-postgres (all three through lifeguard-bench),
# may_postgres (../shared/peers/run-may-postgres.sh, when it exists), and the pgbench
# pipeline baseline (64 queries under one Sync, 2 connections).
#
#   DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' benches/interleaved.sh
#
# Give `sslmode=disable` for a like-for-like table: may_postgres and tokio-postgres here
# speak plain text, while Lifeguard and pgbench (libpq) default to `prefer`, which
# encrypts when the server offers TLS (Debian's PostgreSQL does).
#
# Settings (environment): ROUNDS (2), MEASURE (5 seconds), WARMUP (1 second),
# SHAPES ("256:2 1:1": concurrency:connections), WORKERS (2).
#
# Columns: q/s, p50 and p99 in microseconds, and client CPU per query in microseconds,
# two ways: `cpu/q` is the client process's user + system time (from /usr/bin/time) over
# its whole run divided by the queries of its whole run (q/s x (warm-up + measured));
# the same for every target, setup and teardown included. `cpu/q window` is
# lifeguard-bench's own getrusage over the measured window only (not available for
# may_postgres). It reports; it never fails because of a figure.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to the server to load (the world table is created when absent)}"
rounds=${ROUNDS:-2}
measure=${MEASURE:-5}
warmup=${WARMUP:-1}
shapes=${SHAPES:-"256:2 1:1"}
workers=${WORKERS:-2}
peer=../shared/peers/run-may-postgres.sh

echo "building (release)..." >&2
cargo build -q --release -p lifeguard-bench
bench=target/release/lifeguard-bench
if [ -x "$peer" ]; then
    "$peer" 1 1 1 "$workers" >/dev/null 2>&1 || true # builds it, outside the timings
fi

# Prints one row: target, shape, and the figures of the command's last output line.
run() {
    local name=$1 shape=$2
    shift 2
    local out times line cpu qps
    out=$(mktemp)
    times=$(mktemp)
    /usr/bin/time -f "%U %S" -o "$times" "$@" >"$out" 2>/dev/null || true
    line=$(tail -n 1 "$out")
    qps=$(sed -n 's/.*qps=\([0-9]*\).*/\1/p' <<<"$line")
    cpu=$(awk '{ print $1 + $2 }' "$times")
    awk -v name="$name" -v shape="$shape" -v line="$line" -v cpu="$cpu" -v qps="${qps:-0}" \
        -v secs=$((warmup + measure)) '
        function field(key,   re, m) {
            re = key "=[0-9.]+"
            if (match(line, re)) return substr(line, RSTART + length(key) + 1, RLENGTH - length(key) - 1)
            return "-"
        }
        BEGIN {
            total = qps * secs
            per = total > 0 ? sprintf("%.1f", cpu * 1e6 / total) : "-"
            printf "| %-15s | %-7s | %8s | %7s | %7s | %6s | %10s |\n", name, shape,
                field("qps"), field("p50_us"), field("p99_us"), per, field("cpu_us_per_query")
        }'
    rm -f "$out" "$times"
}

pgbench_baseline() {
    local script
    script=$(mktemp --suffix=.sql)
    {
        for i in $(seq 1 64); do echo "\\set id$i random(1, 10000)"; done
        echo '\startpipeline'
        for i in $(seq 1 64); do echo "SELECT id, randomnumber FROM world WHERE id = :id$i;"; done
        echo '\endpipeline'
    } >"$script"
    local tps
    tps=$(pgbench -n -M prepared -c 2 -j 2 -T "$measure" -f "$script" "$DATABASE_URL" 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)
    rm -f "$script"
    printf "| %-15s | %-7s | %8s | %7s | %7s | %6s | %10s |\n" "pgbench pipe64" "2 conns" \
        "$(awk -v t="${tps:-0}" 'BEGIN { printf "%d", t * 64 }')" - - - -
}

echo "| target          | shape   |      q/s |     p50 |     p99 |  cpu/q | cpu/q window |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
    for shape in $shapes; do
        conc=${shape%%:*}
        conns=${shape##*:}
        label="$conc/$conns"
        common=(--concurrency "$conc" --connections "$conns" --seconds "$measure"
            --warmup-seconds "$warmup" --workers "$workers" --url "$DATABASE_URL")
        run pool "$label" "$bench" --target pool "${common[@]}"
        run pool-one-sync "$label" "$bench" --target pool-one-sync "${common[@]}"
        run client "$label" "$bench" --target client "${common[@]}"
        if [ -x "$peer" ]; then
            run may_postgres "$label" "$peer" "$conc" "$measure" "$conns" "$workers"
        fi
        run tokio-postgres "$label" "$bench" --target tokio-postgres "${common[@]}"
    done
    pgbench_baseline
    echo "(round $round done)" >&2
done
