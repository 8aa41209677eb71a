#!/usr/bin/env bash
# Validates deploy/k8s/*.yaml offline against the Kubernetes API schemas bundled in the
# `kubernetes-validate` package (strict: unknown fields are errors), then checks what the
# schemas cannot: the fleet Job's N agrees in completions, parallelism and --shard env/N,
# and the scenario in the ConfigMap is one readsim accepts.
#   scripts/validate-k8s.sh
# The package goes into a venv, reused when present: READSIM_K8S_VALIDATE_VENV, else
# $XDG_CACHE_HOME/readsim/k8s-validate-venv, else ~/.cache/readsim/k8s-validate-venv (PyPI
# once, ~150 MB; validating needs no network). The scenario check uses $READSIM, else
# ${CARGO_TARGET_DIR:-target}/release/readsim, and is skipped (said so) without one.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# The version the manifests were written against; its schemas cover Kubernetes 1.37.
KUBERNETES_VALIDATE_VERSION=1.37.0

if [[ -n "${READSIM_K8S_VALIDATE_VENV:-}" ]]; then
    venv="$READSIM_K8S_VALIDATE_VENV"
elif [[ -n "${XDG_CACHE_HOME:-}" && "${XDG_CACHE_HOME}" == /* ]]; then
    venv="$XDG_CACHE_HOME/readsim/k8s-validate-venv"
elif [[ -n "${HOME:-}" ]]; then
    venv="$HOME/.cache/readsim/k8s-validate-venv"
else
    echo "neither XDG_CACHE_HOME nor HOME is set: set READSIM_K8S_VALIDATE_VENV" >&2
    exit 2
fi

have="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null || true)"
if [[ "$have" != "$KUBERNETES_VALIDATE_VERSION" ]]; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 is not installed (Debian: apt-get install python3 python3-venv)" >&2
        exit 2
    fi
    echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $venv" >&2
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv" >&2 || {
        echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
        exit 2
    }
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
fi

cd "$root"
manifests=(deploy/k8s/*.yaml)
echo "== ${#manifests[@]} manifests against the bundled Kubernetes schemas (strict)"
"$venv/bin/kubernetes-validate" --strict "${manifests[@]}"

echo "== the fleet Job's N, and the ConfigMap's scenario"
scenario="$(mktemp)"
trap 'rm -f "$scenario" "$scenario.toml"' EXIT
"$venv/bin/python" - "$scenario" <<'PY'
import sys, yaml

def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]

job = load("deploy/k8s/fleet-job.yaml")[0]
spec = job["spec"]
args = spec["template"]["spec"]["containers"][0]["args"]
shard = args[args.index("--shard") + 1]
n = int(shard.split("/")[1])
problems = []
if not shard.startswith("env"):
    problems.append(f"--shard {shard}: the pods read their index with env/N")
for field in ("completions", "parallelism"):
    if spec.get(field) != n:
        problems.append(f"{field} is {spec.get(field)}, --shard says N = {n}")
if spec.get("completionMode") != "Indexed":
    problems.append("completionMode must be Indexed (pods get JOB_COMPLETION_INDEX)")
out = args[args.index("--out") + 1]
if "{shard}" not in out:
    problems.append(f"--out {out}: each shard needs its own directory ({{shard}})")
cm = load("deploy/k8s/scenario-configmap.yaml")[0]
with open(sys.argv[1] + ".toml", "w") as f:
    f.write(cm["data"]["scenario.toml"])
with open(sys.argv[1], "w") as f:
    f.write(f"{n}\n")
if problems:
    sys.exit("deploy/k8s/fleet-job.yaml: " + "; ".join(problems))
print(f"fleet-job.yaml: {n} shards, indexed, one directory each")
PY
readsim="${READSIM:-${CARGO_TARGET_DIR:-$root/target}/release/readsim}"
if [[ -x "$readsim" ]]; then
    "$readsim" validate "$scenario.toml" --shard "0/$(cat "$scenario")"
else
    echo "no $readsim: the ConfigMap's scenario is not checked (set READSIM)"
fi
echo "deploy/k8s is valid"
