#!/usr/bin/env bash
# make bench: caches bench against redis-benchmark on the same local nodes, three repetitions interleaved, then a
# table of medians. Same node, 50 callers, 100-byte values, 100000 keys. Ratio = ours ÷ redis-benchmark in the same
# repetition (median of the three ratios); client CPU is user+system time per operation (getrusage of the child for
# redis-benchmark, getrusage(RUSAGE_SELF) over the measured window for caches bench).
# Environment: REPS (3), SECONDS_PER_RUN (4, caches bench --duration), BENCH_N (200000, redis-benchmark -n for
# GET/SET; MSET uses a half, MGET 100 a tenth), CONCURRENCY (50), KEYSPACE (100000), VALUE_SIZE (100).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/nodes.sh

REPS=${REPS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}
BENCH_N=${BENCH_N:-200000}
CONCURRENCY=${CONCURRENCY:-50}
KEYSPACE=${KEYSPACE:-100000}
VALUE_SIZE=${VALUE_SIZE:-100}

echo "building caches (release)..."
swift build -c release --product caches >/dev/null
CACHES=.build/release/caches

work=$(mktemp -d /tmp/swift-caches-bench.XXXXXX)
cleanup() { stop_nodes; rm -rf "$work"; }
trap cleanup EXIT

# A CA and a server certificate for 127.0.0.1, for the TLS node.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=swift-caches bench CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null

# Three ring nodes, a cluster of three primaries, then the single node (plaintext and TLS ports on the same server).
start_nodes 3
RING_PORTS=("${NODE_PORTS[@]}")
start_cluster 3 0
SINGLE_PORT=$(free_port)
TLS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$SINGLE_PORT" --tls-port "$TLS_PORT" --tls-cert-file "$work/server.pem" \
    --tls-key-file "$work/server.key" --tls-ca-cert-file "$work/ca.pem" --tls-auth-clients no \
    --save '' --appendonly no --daemonize no --dir "$work" --logfile "$work/single.log" &
NODE_PIDS+=($!)
tries=0
until redis-cli -h 127.0.0.1 -p "$SINGLE_PORT" ping >/dev/null 2>&1; do
    tries=$((tries + 1)); [ "$tries" -gt 100 ] && { tail -5 "$work/single.log" >&2; exit 1; }
    sleep 0.05
done

export CACHES CONCURRENCY KEYSPACE VALUE_SIZE REPS SECONDS_PER_RUN BENCH_N SINGLE_PORT TLS_PORT
export RING_URL="redis://127.0.0.1:${RING_PORTS[0]},127.0.0.1:${RING_PORTS[1]},127.0.0.1:${RING_PORTS[2]}?names=node-a,node-b,node-c"
export CA_FILE="$work/ca.pem"
export CLUSTER_URL
echo "nodes: single 127.0.0.1:$SINGLE_PORT (TLS $TLS_PORT), ring ${RING_PORTS[*]}, cluster ${CLUSTER_PORTS[*]}; $REPS repetitions"
python3 - <<'PY'
import json, os, resource, statistics, subprocess, sys

env = os.environ
C, KS, VS = env["CONCURRENCY"], env["KEYSPACE"], env["VALUE_SIZE"]
N = int(env["BENCH_N"])
single = f"redis://127.0.0.1:{env['SINGLE_PORT']}"
tls = f"rediss://127.0.0.1:{env['TLS_PORT']}?tls_ca_file={env['CA_FILE']}"
ring = env["RING_URL"]
cluster = env["CLUSTER_URL"]

def child_cpu(cmd):
    """Runs cmd; returns (stdout, user+sys CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

def redis_benchmark(test, n, keys_per_call):
    base = ["redis-benchmark", "-h", "127.0.0.1", "-p", env["SINGLE_PORT"], "-c", C, "-n", str(n), "-d", VS,
            "-r", KS, "-P", "1", "--csv"]
    if test == "MGET100":
        cmd = base + ["MGET"] + ["key:__rand_int__"] * 100
    else:
        cmd = base + ["-t", test.lower()]
    out, cpu = child_cpu(cmd)
    rows = [line.split('","') for line in out.strip().splitlines() if line.startswith('"')]
    rps = float(rows[-1][1].strip('"'))
    return {"ops": rps, "keys": rps * keys_per_call, "cpu": cpu * 1e6 / n}

def ours(url, ops, executor=None, keyspace=None):
    child_env = dict(env)
    if executor:
        child_env["CACHES_EVENT_LOOP_EXECUTOR"] = executor
    cmd = [env["CACHES"], "bench", "--url", url, "-c", C, "--duration", env["SECONDS_PER_RUN"], "--keyspace",
           keyspace or KS, "--value-size", VS, "--ops", ops, "--json"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=child_env)
    if result.returncode != 0:
        sys.exit(f"caches bench failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr}{result.stdout}")
    report = json.loads(result.stdout)
    near = report.get("nearCache") or {}
    return {"ops": report["opsPerSecond"], "keys": report["keysPerSecond"], "cpu": report["cpuMicrosecondsPerOp"],
            "hitRatio": near.get("hitRatio")}

# (label, reference label, measure, compare keys/s instead of ops/s)
reps = []
for rep in range(int(env["REPS"])):
    r = {}
    r["rb SET"] = redis_benchmark("SET", N, 1)
    r["SET"] = ours(single, "set")
    r["rb GET"] = redis_benchmark("GET", N, 1)
    r["GET"] = ours(single, "get")
    r["rb MSET10"] = redis_benchmark("MSET", N // 2, 10)
    r["MSET10"] = ours(single, "setMany:10")
    r["rb MGET100"] = redis_benchmark("MGET100", N // 10, 100)
    r["MGET100"] = ours(single, "getMany:100")
    r["ring SET"] = ours(ring, "set")
    r["ring GET"] = ours(ring, "get")
    r["ring getMany100"] = ours(ring, "getMany:100")
    # The same over a Redis Cluster of three primaries: getMany reads each primary's keys with one GET per key in one
    # flush (the default), with one script (many_key_reads=script), or with one MGET per slot, each primary's in one
    # pipeline (many_key_reads=mget).
    r["cluster GET"] = ours(cluster, "get")
    r["cluster getMany100"] = ours(cluster, "getMany:100")
    r["cluster getMany100 script"] = ours(cluster + "?many_key_reads=script", "getMany:100")
    r["cluster getMany100 mget"] = ours(cluster + "?many_key_reads=mget", "getMany:100")
    # What a service gets that keeps Swift's own global executor (the library never changes it; caches does).
    r["GET swift"] = ours(single, "get", executor="0")
    r["MGET100 swift"] = ours(single, "getMany:100", executor="0")
    r["TLS GET"] = ours(tls, "get")
    r["TLS SET"] = ours(tls, "set")
    # Hot keys: 1000 keys over the ring with the near cache on (after the 1 s warm-up every read is local).
    r["near GET"] = ours(ring + "&near_cache=10000", "get", keyspace="1000")
    reps.append(r)
    print(f"repetition {rep + 1}: " + ", ".join(f"{k} {v['ops']:.0f}/s" for k, v in r.items()), file=sys.stderr)

cases = [
    # label, ours, reference, unit, reference is redis-benchmark (CPU column)?, target ratio
    ("GET, 1 node", "GET", "rb GET", "ops", True, ">= 2.0"),
    ("SET, 1 node", "SET", "rb SET", "ops", True, ">= 2.0"),
    ("MSET 10 (setMany:10)", "MSET10", "rb MSET10", "ops", True, ">= 1.0"),
    ("MGET 100 (getMany:100)", "MGET100", "rb MGET100", "ops", True, ">= 1.0"),
    ("GET, 3-node ring", "ring GET", "rb GET", "ops", True, ""),
    ("SET, 3-node ring", "ring SET", "rb SET", "ops", True, ""),
    ("getMany 100, 3-node ring (keys/s)", "ring getMany100", "rb MGET100", "keys", True, ">= 1.0"),
    ("GET, 3-primary cluster", "cluster GET", "rb GET", "ops", True, ""),
    ("getMany 100, 3-primary cluster (keys/s)", "cluster getMany100", "rb MGET100", "keys", True, ""),
    ("  the same, many_key_reads=script", "cluster getMany100 script", "rb MGET100", "keys", True, ""),
    ("  the same, many_key_reads=mget", "cluster getMany100 mget", "rb MGET100", "keys", True, ""),
    ("GET, Swift's global executor", "GET swift", "rb GET", "ops", True, ""),
    ("MGET 100, Swift's global executor", "MGET100 swift", "rb MGET100", "ops", True, ""),
    ("GET over TLS vs plaintext (ours)", "TLS GET", "GET", "ops", False, ">= 0.9"),
    ("SET over TLS vs plaintext (ours)", "TLS SET", "SET", "ops", False, ">= 0.9"),
    ("GET, near cache, 1000 hot keys, ring", "near GET", "rb GET", "ops", True, ">= 20"),
]
med = lambda xs: statistics.median(xs)

def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"

import datetime
print()
print(f"make bench, {datetime.date.today().isoformat()}, {machine()}")
print(f"caches bench vs redis-benchmark -P1: {C} callers, {VS}-byte values, {KS} keys; medians of {len(reps)} interleaved repetitions")
header = f"{'case':38} {'reference':>12} {'ours':>12} {'ratio':>7} {'target':>7} {'ref CPU µs/op':>14} {'our CPU µs/op':>14}"
print(header)
print("-" * len(header))
for label, mine, ref, unit, cpu, target in cases:
    ref_value = med([r[ref][unit] for r in reps])
    my_value = med([r[mine][unit] for r in reps])
    ratio = med([r[mine][unit] / r[ref][unit] for r in reps])
    ref_cpu = f"{med([r[ref]['cpu'] for r in reps]):.1f}"
    my_cpu = f"{med([r[mine]['cpu'] for r in reps]):.1f}"
    print(f"{label:38} {ref_value:>12,.0f} {my_value:>12,.0f} {ratio:>7.2f} {target:>7} {ref_cpu:>14} {my_cpu:>14}")
# Client CPU per operation against redis-benchmark's, in the same repetition (lower is better).
get_cpu = med([r["GET"]["cpu"] / r["rb GET"]["cpu"] for r in reps])
key_cpu = med([(r["MGET100"]["cpu"] / 100) / (r["rb MGET100"]["cpu"] / 100) for r in reps])
ring_key_cpu = med([(r["ring getMany100"]["cpu"] / 100) / (r["rb MGET100"]["cpu"] / 100) for r in reps])
print(f"{'client CPU per GET ÷ redis-benchmark':38} {'':>12} {'':>12} {get_cpu:>7.2f} {'<= 1.0':>7}")
print(f"{'client CPU per getMany key ÷ MGET key':38} {'':>12} {'':>12} {key_cpu:>7.2f} {'<= 1.5':>7}")
print(f"{'  the same over the 3-node ring':38} {'':>12} {'':>12} {ring_key_cpu:>7.2f}")
def cluster_row(label, case, ring_case, target=""):
    """Cluster ÷ ring client CPU: the median of the per-repetition ratios, and each repetition's ratio after it."""
    ratios = [r[case]["cpu"] / r[ring_case]["cpu"] for r in reps]
    each = " ".join(f"{x:.2f}" for x in ratios)
    print(f"{label:38} {'':>12} {'':>12} {med(ratios):>7.2f} {target:>7}  (repetitions: {each})")

cluster_row("client CPU per GET, cluster ÷ ring", "cluster GET", "ring GET", "<= 1.1")
cluster_row("client CPU per getMany key, cluster ÷ ring", "cluster getMany100", "ring getMany100", "<= 1.1")
cluster_row("  the same, many_key_reads=script", "cluster getMany100 script", "ring getMany100")
cluster_row("  the same, many_key_reads=mget", "cluster getMany100 mget", "ring getMany100")
print(f"{'near-cache hit ratio (hot keys)':38} {'':>12} {'':>12} {med([r['near GET']['hitRatio'] for r in reps]):>7.4f}")
print()
print("reference = redis-benchmark on one node in the same repetition (for TLS rows: our plaintext run);")
print("ops/s per call (MSET 10 = one 10-key call), keys/s where marked; ratio = median of per-repetition ratios.")
PY
