#!/usr/bin/env bash
# What one node spends (its own CPU, from /proc) to read 33 keys in each of getMany's forms, with redis-benchmark as
# the client: one MGET on a plain node, 33 GETs, and one EVAL of the cluster's script (CacheCommands.swift), each on a
# node in cluster mode that owns every slot and on a plain one. Run after `make deps`: scripts/server-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/nodes.sh

dir=$(mktemp -d /tmp/swift-caches-cost.XXXXXX)
cluster_port=$(free_port)
plain_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$cluster_port" --save '' --appendonly no --dir "$dir" --logfile "$dir/cluster.log" \
    --cluster-enabled yes --cluster-port "$(free_port)" --cluster-config-file nodes.conf >/dev/null 2>&1 &
cluster_pid=$!
redis-server --bind 127.0.0.1 --port "$plain_port" --save '' --appendonly no --dir "$dir" --logfile "$dir/plain.log" >/dev/null 2>&1 &
plain_pid=$!
trap 'kill "$cluster_pid" "$plain_pid" 2>/dev/null; wait "$cluster_pid" "$plain_pid" 2>/dev/null; rm -rf "$dir"' EXIT
for port in "$cluster_port" "$plain_port"; do
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
done
redis-cli -p "$cluster_port" cluster addslotsrange 0 16383 >/dev/null
until redis-cli -p "$cluster_port" cluster info | grep -q cluster_state:ok; do sleep 0.05; done

# 33 keys of 100-byte values, as a node holds a third of a 100-key getMany in `make bench`.
keys=()
for i in $(seq 1 33); do keys+=("app:1:key:$((i * 7919))"); done
value="\"$(head -c 98 /dev/zero | tr '\0' x)\""
for key in "${keys[@]}"; do
    for port in "$cluster_port" "$plain_port"; do redis-cli -p "$port" set "$key" "$value" >/dev/null; done
done
script=$(printf '#!lua flags=no-writes,allow-cross-slot-keys\nlocal values = {}\nfor i = 1, #ARGV do values[i] = redis.call('"'"'GET'"'"', ARGV[i]) end\nreturn values')

calls=50000
ticks_per_second=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# measure NAME PID PORT REQUESTS PER-READ ARGS...: the server's CPU per read of 33 keys, in µs, when redis-benchmark
# sends REQUESTS requests of ARGS (PER-READ of them make one read), 4 connections pipelining 4 reads each.
measure() {
    local name=$1 pid=$2 port=$3 requests=$4 per_read=$5
    shift 5
    local before after
    before=$(cpu "$pid")
    redis-benchmark -p "$port" -n "$requests" -c 4 -P $((4 * per_read)) -q "$@" >/dev/null
    after=$(cpu "$pid")
    python3 -c "print(f'  {\"$name\":50} {($after - $before) / $ticks_per_second / $requests * $per_read * 1e6:6.1f} µs')"
}
echo "server CPU per read of 33 keys ($calls reads, redis-benchmark with 4 connections; 3 repetitions)"
for repetition in 1 2 3; do
    echo "repetition $repetition"
    measure "one MGET, plain node" "$plain_pid" "$plain_port" "$calls" 1 MGET "${keys[@]}"
    # redis-benchmark repeats one command: a GET of one key, 33 to a read, costs what 33 keys' GETs do.
    measure "33 GETs in one flush, plain node" "$plain_pid" "$plain_port" $((calls * 33)) 33 GET "${keys[0]}"
    measure "33 GETs in one flush, cluster-mode node" "$cluster_pid" "$cluster_port" $((calls * 33)) 33 GET "${keys[0]}"
    measure "one EVAL of the getMany script, plain node" "$plain_pid" "$plain_port" "$calls" 1 EVAL "$script" 0 "${keys[@]}"
    measure "one EVAL of the getMany script, cluster-mode node" "$cluster_pid" "$cluster_port" "$calls" 1 EVAL "$script" 0 "${keys[@]}"
done
