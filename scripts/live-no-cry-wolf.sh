#!/usr/bin/env bash
# Does `readsim compare` cry wolf on live runs? Runs scenarios/smoke-live.toml against the
# reference server N times per side (default 5; each run takes ~20-30 s), alternating sides
# so drift in machine load hits both alike, then compares side a with side b. Both sides are
# the same build, so any regression called is a false alarm: the script fails (exit 1) then.
#   scripts/live-no-cry-wolf.sh [RUNS]      (READSIM=path/to/readsim to pick the binary)
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-5}"
readsim="${READSIM:-target/release/readsim}"
out=target/nocrywolf
if [[ ! -x "$readsim" ]]; then
    echo "no $readsim: build it first (cargo build --release) or set READSIM" >&2
    exit 2
fi
rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)
for i in $(seq 1 "$runs"); do
    for side in a b; do
        t0=$(date +%s)
        "$readsim" run scenarios/smoke-live.toml --target server --out "$out/$side$i" --quiet \
            > "$out/$side$i.log" 2>&1 || {
            echo "run $side$i failed; see $out/$side$i.log" >&2
            tail -n 20 "$out/$side$i.log" >&2
            exit 1
        }
        echo "run $side$i done in $(( $(date +%s) - t0 ))s"
    done
done
echo "== compare side a ($runs runs) with side b ($runs runs), same build"
set +e
"$readsim" compare --runs "$runs" "$out/a" "$out/b" --markdown "$out/compare.md"
code=$?
set -e
echo "total $(( $(date +%s) - start ))s for $((2 * runs)) runs"
if [[ $code -ne 0 ]]; then
    echo "compare called a regression between two sets of runs of the same build (exit $code)" >&2
    exit 1
fi
echo "no false alarm"
