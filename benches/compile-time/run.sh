#!/usr/bin/env bash
# Compile-time cost per checked query, Lifeguard against sqlx 0.8.6, in one run.
#
# Generates four crates in a scratch workspace: 200 distinct `query!` calls
# (`SELECT id, randomnumber, <i> AS k<i> FROM world WHERE id = $1`) and none, for each of
# Lifeguard and sqlx. Each round touches each crate's source and times `cargo check`;
# the per-query cost is (median with queries - median without) / 200.
#
#   DATABASE_URL=postgres://... benches/compile-time/run.sh [rounds]     # online
#   OFFLINE=1 DATABASE_URL=postgres://... benches/compile-time/run.sh    # offline (both
#       tools first write their metadata in an online build, then check without a database)
#
# The database needs `world (id int PRIMARY KEY, randomnumber int NOT NULL)`.
set -euo pipefail
rounds=${1:-5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
: "${DATABASE_URL:?set DATABASE_URL to a database with the world table}"
work=${WORK:-$(mktemp -d /tmp/lifeguard-compile-time.XXXXXX)}
n=200

gen() { # crate, tool, count
    local dir=$work/$1
    mkdir -p "$dir/src"
    {
        if [ "$2" = lifeguard ]; then
            echo 'pub fn run(pool: &lifeguard::Pool) {'
            for i in $(seq 1 "$3"); do
                echo "    let _ = lifeguard::query!(\"SELECT id, randomnumber, $i AS k$i FROM world WHERE id = \$1\", $i).fetch_one(pool);"
            done
        else
            echo 'pub async fn run(pool: &sqlx::PgPool) {'
            for i in $(seq 1 "$3"); do
                echo "    let _ = sqlx::query!(\"SELECT id, randomnumber, $i AS k$i FROM world WHERE id = \$1\", $i).fetch_one(pool).await;"
            done
        fi
        echo '}'
    } >"$dir/src/lib.rs"
    if [ "$2" = lifeguard ]; then
        dep="lifeguard = { path = \"$repo/lifeguard\" }"
    else
        dep='sqlx = { version = "=0.8.6", default-features = false, features = ["postgres", "runtime-tokio", "macros"] }'
    fi
    printf '[package]\nname = "%s"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n%s\n' "$1" "$dep" >"$dir/Cargo.toml"
}

printf '[workspace]\nresolver = "2"\nmembers = ["lg200", "lg0", "sqlx200", "sqlx0"]\n' >"$work/Cargo.toml"
gen lg200 lifeguard $n
gen lg0 lifeguard 0
gen sqlx200 sqlx $n
gen sqlx0 sqlx 0
cd "$work"
cp "$repo/Cargo.lock" . 2>/dev/null || true

echo "warming up (building dependencies) in $work" >&2
cargo check -q --workspace >&2

if [ -n "${OFFLINE:-}" ]; then
    # Both tools write their offline metadata during an online build: sqlx to
    # SQLX_OFFLINE_DIR, Lifeguard to the workspace's .lifeguard/.
    echo "preparing offline metadata" >&2
    export SQLX_OFFLINE_DIR=$work/.sqlx
    mkdir -p "$SQLX_OFFLINE_DIR"
    touch lg200/src/lib.rs sqlx200/src/lib.rs
    cargo check -q --workspace >&2
    export SQLX_OFFLINE=true LIFEGUARD_OFFLINE=true
    unset DATABASE_URL
    cargo check -q --workspace >&2
fi

time_check() { # crate -> seconds
    touch "$work/$1/src/lib.rs"
    local t0 t1
    t0=$(date +%s.%N)
    cargo check -q -p "$1" >&2
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' 
}

declare -A samples
for r in $(seq 1 "$rounds"); do
    for c in lg200 lg0 sqlx200 sqlx0; do
        samples[$c]+="$(time_check $c) "
    done
    echo "round $r: ${samples[lg200]##* } done" >&2
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
for c in lg200 lg0 sqlx200 sqlx0; do
    m=$(echo "${samples[$c]}" | median)
    printf '%-8s median %.3f s   samples: %s\n' "$c" "$m" "${samples[$c]}"
    declare "med_$c=$m"
done
awk -v l2="$med_lg200" -v l0="$med_lg0" -v s2="$med_sqlx200" -v s0="$med_sqlx0" -v n="$n" 'BEGIN {
    lg = (l2 - l0) * 1000 / n; sq = (s2 - s0) * 1000 / n
    printf "per query: lifeguard %.2f ms, sqlx %.2f ms, lifeguard/sqlx %.2f\n", lg, sq, lg / sq
}' 
