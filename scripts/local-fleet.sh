#!/usr/bin/env bash
# A fleet of N shards on this machine, launched exactly as deploy/k8s/fleet-job.yaml launches
# them on Kubernetes: each shard is `readsim run FILE --shard env/N --out OUT/shard-{shard}`
# with JOB_COMPLETION_INDEX=i in its environment (what an Indexed Job sets) and the common
# start in READSIM_START_AT (what the Job takes from its ConfigMap). Then `readsim merge`
# joins the shards' reports into OUT/merged and the script exits with merge's code
# (0 pass, 1 the target failed, 2 shards missing or mismatched, 3 readsim failed).
#
#   scripts/local-fleet.sh N FILE [--target server|ws://HOST:PORT|model] [--out DIR]
#                          [--lead SECONDS] [RUN ARGS...]
#
#   --target server   (default) start one `readsim serve` (in memory, loopback) that every
#                     shard drives, and stop it at the end; shards share its users
#   --target ws://... a server that is up (admin token in READSIM_ADMIN_TOKEN)
#   --target model    simulated shards (no server, no common start)
#   --out DIR         where shard-0 .. shard-N-1 and merged go (default target/local-fleet;
#                     its shard-* and merged directories are replaced)
#   --lead SECONDS    how far ahead the common start is (default 15: time to provision and
#                     connect every shard; a shard not ready by then fails with exit 3)
#   RUN ARGS          passed to every `readsim run` (e.g. --duration 10s --seed 7)
#
# The binary is $READSIM, else ${CARGO_TARGET_DIR:-target}/release/readsim of this checkout.
set -euo pipefail

usage() {
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

root="$(cd "$(dirname "$0")/.." && pwd)"
readsim="${READSIM:-${CARGO_TARGET_DIR:-$root/target}/release/readsim}"
[[ $# -ge 2 ]] || usage
n="$1"
file="$2"
shift 2
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive number, not '$n'" >&2; usage; }
[[ -f "$file" ]] || { echo "no scenario file $file" >&2; exit 2; }
target=server
out=target/local-fleet
lead=15
run_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --target) target="${2:?--target needs a value}"; shift 2 ;;
        --out) out="${2:?--out needs a value}"; shift 2 ;;
        --lead) lead="${2:?--lead needs a value}"; shift 2 ;;
        --shard|--start-at|--start-at-epoch-ms)
            echo "$1 is the fleet's to set (each shard gets --shard env/$n and a common start)" >&2
            exit 2 ;;
        *) run_args+=("$1"); shift ;;
    esac
done
[[ "$lead" =~ ^[0-9]+$ ]] || { echo "--lead takes whole seconds, not '$lead'" >&2; exit 2; }
if [[ ! -x "$readsim" ]]; then
    echo "no $readsim: build it (cargo build --release) or set READSIM" >&2
    exit 2
fi

mkdir -p "$out"
rm -rf "$out"/shard-* "$out/merged"
server_pid=""
shard_pids=()
cleanup() {
    # Only what this script started, by process id.
    for pid in "${shard_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The target every shard drives.
shard_target="$target"
case "$target" in
    server)
        export READSIM_ADMIN_TOKEN="fleet-$RANDOM$RANDOM$RANDOM"
        "$readsim" serve --memory --listen 127.0.0.1:0 > "$out/serve.out" 2> "$out/serve.log" &
        server_pid=$!
        addr=""
        for _ in $(seq 1 300); do
            addr="$(sed -n 's/^readsim serve listening on \([^ ]*\).*/\1/p' "$out/serve.out")"
            [[ -n "$addr" ]] && break
            if ! kill -0 "$server_pid" 2>/dev/null; then
                echo "readsim serve exited; see $out/serve.log" >&2
                exit 3
            fi
            sleep 0.1
        done
        if [[ -z "$addr" ]]; then
            echo "readsim serve did not say where it listens within 30s; see $out/serve.log" >&2
            exit 3
        fi
        shard_target="ws://$addr"
        echo "readsim serve on $addr (log: $out/serve.log)"
        ;;
    ws://*) ;;
    model) ;;
    *) echo "--target takes server, ws://HOST:PORT or model, not '$target'" >&2; exit 2 ;;
esac

# The common start: the Job reads it from READSIM_START_AT (an RFC 3339 time).
if [[ "$target" != model ]]; then
    export READSIM_START_AT
    READSIM_START_AT="$(date -u -d "@$(( $(date +%s) + lead ))" +%Y-%m-%dT%H:%M:%SZ)"
    echo "common start $READSIM_START_AT ($lead s ahead)"
fi

for i in $(seq 0 $(( n - 1 ))); do
    JOB_COMPLETION_INDEX=$i "$readsim" run "$file" --target "$shard_target" \
        --shard "env/$n" --out "$out/shard-{shard}" --quiet "${run_args[@]}" \
        > "$out/shard-$i.log" 2>&1 &
    shard_pids+=($!)
done
echo "$n shards started (logs: $out/shard-I.log)"

reports=()
for i in "${!shard_pids[@]}"; do
    code=0
    wait "${shard_pids[$i]}" || code=$?
    verdict="$(grep -m1 -E '^(PASS|FAIL) ' "$out/shard-$i.log" || true)"
    echo "shard $i/$n: exit $code ${verdict:-(no verdict: see $out/shard-$i.log)}"
    if [[ $code -ne 0 && -z "$verdict" ]]; then
        tail -n 5 "$out/shard-$i.log" >&2
    fi
    [[ -f "$out/shard-$i/report.json" ]] && reports+=("$out/shard-$i")
done
shard_pids=()
if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
fi

if [[ ${#reports[@]} -eq 0 ]]; then
    echo "no shard wrote a report; nothing to merge" >&2
    exit 3
fi
code=0
"$readsim" merge "${reports[@]}" --out "$out/merged" || code=$?
exit "$code"
