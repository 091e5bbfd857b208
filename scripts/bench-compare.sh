#!/usr/bin/env bash
# make bench-compare BASE=<git revision>: A/B of two builds of `caches` on the same local node, interleaved.
# Builds BASE (in a temporary git worktree, release) and this working tree, starts one redis-server, then repeats
# REPS times: redis-benchmark GET, base GET, ours GET, base SET, ours SET, base getMany:100, ours getMany:100 (the
# two builds swap order every repetition). Prints medians of ops/s and client CPU per operation, each as a ratio to
# redis-benchmark in the same repetition, and ours ÷ base. Run it on an otherwise idle machine.
# Environment: BASE (required), REPS (5), SECONDS_PER_RUN (4), CONCURRENCY (50), KEYSPACE (100000), VALUE_SIZE (100).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/nodes.sh

: "${BASE:?set BASE to the git revision to compare against, e.g. make bench-compare BASE=HEAD~3}"
REPS=${REPS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
CONCURRENCY=${CONCURRENCY:-50}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-100}

base_rev=$(git rev-parse --short "$BASE")
base_tree=${BASE_TREE:-/tmp/swift-caches-bench-base}
if [ ! -d "$base_tree" ]; then
    git worktree add --detach "$base_tree" "$base_rev" >/dev/null
else
    git -C "$base_tree" checkout --quiet --detach "$base_rev"
fi
echo "building base $base_rev in $base_tree (release)..."
(cd "$base_tree" && swift build -c release --product caches >/dev/null)
echo "building this tree (release)..."
swift build -c release --product caches >/dev/null

trap stop_nodes EXIT
start_nodes 1
export OURS=.build/release/caches BASE_BIN="$base_tree/.build/release/caches" PORT=${NODE_PORTS[0]}
export REPS SECONDS_PER_RUN CONCURRENCY KEYSPACE VALUE_SIZE BASE_REV=$base_rev
python3 - <<'PY'
import json, os, resource, statistics, subprocess, sys

env = os.environ
url = f"redis://127.0.0.1:{env['PORT']}"
C, KS, VS = env["CONCURRENCY"], env["KEYSPACE"], env["VALUE_SIZE"]

def redis_benchmark():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    n = 200000
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", env["PORT"], "-c", C, "-n", str(n), "-d", VS,
                          "-r", KS, "-P", "1", "--csv", "-t", "get"], check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = [line.split('","') for line in out.strip().splitlines() if line.startswith('"')]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"ops": float(rows[-1][1].strip('"')), "cpu": cpu * 1e6 / n}

def run(binary, ops):
    cmd = [binary, "bench", "--url", url, "-c", C, "--duration", env["SECONDS_PER_RUN"], "--keyspace", KS,
           "--value-size", VS, "--ops", ops, "--json"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"caches bench failed: {' '.join(cmd)}\n{result.stderr}{result.stdout}")
    report = json.loads(result.stdout)
    return {"ops": report["opsPerSecond"], "cpu": report["cpuMicrosecondsPerOp"]}

builds = [("base", env["BASE_BIN"]), ("ours", env["OURS"])]
cases = ["get", "set", "getMany:100"]
reps = []
for rep in range(int(env["REPS"])):
    r = {"rb": redis_benchmark()}
    order = builds if rep % 2 == 0 else builds[::-1]
    for case in cases:
        for name, binary in order:
            r[(name, case)] = run(binary, case)
    reps.append(r)
    print(f"repetition {rep + 1}: rb GET {r['rb']['ops']:.0f}/s, " +
          ", ".join(f"{n} {c} {r[(n, c)]['ops']:.0f}/s" for c in cases for n, _ in builds), file=sys.stderr)

med = statistics.median
print()
print(f"A/B: base {env['BASE_REV']} vs this tree; medians of {len(reps)} interleaved repetitions, one node, "
      f"{C} callers, {VS}-byte values")
print(f"{'case':14} {'base ÷ rb':>10} {'ours ÷ rb':>10} {'ours ÷ base':>12} {'base CPU µs':>12} {'ours CPU µs':>12}")
for case in cases:
    b = med([r[("base", case)]["ops"] / r["rb"]["ops"] for r in reps])
    o = med([r[("ours", case)]["ops"] / r["rb"]["ops"] for r in reps])
    ob = med([r[("ours", case)]["ops"] / r[("base", case)]["ops"] for r in reps])
    bc = med([r[("base", case)]["cpu"] for r in reps])
    oc = med([r[("ours", case)]["cpu"] for r in reps])
    print(f"{case:14} {b:>10.2f} {o:>10.2f} {ob:>12.2f} {bc:>12.1f} {oc:>12.1f}")
print("rb = redis-benchmark GET -P1 on the same node in the same repetition; CPU = client user+system per call")
PY
