# Sourced by the demo and benchmark scripts: start and stop local loopback redis-server nodes.
# start_nodes N [extra redis-server args...] sets NODE_PORTS (array) and NODE_DIR; stop_nodes stops them all.
NODE_PORTS=()
NODE_PIDS=()
NODE_DIR=""
NODE_DIRS=()

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_is_free() {
    python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' "$1" 2>/dev/null
}

# start_nodes N [args…]: N nodes on free ports. With FIXED_PORTS="7001 7002 7003" set, those ports are used instead.
start_nodes() {
    local count=$1; shift
    NODE_DIR=$(mktemp -d /tmp/swift-caches-nodes.XXXXXX)
    NODE_DIRS+=("$NODE_DIR")
    local fixed=(${FIXED_PORTS:-})
    local i
    for ((i = 0; i < count; i++)); do
        local port
        if [ "${#fixed[@]}" -gt "$i" ]; then port=${fixed[$i]}; else port=$(free_port); fi
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no \
            --dir "$NODE_DIR" --logfile "$NODE_DIR/node-$port.log" "$@" &
        NODE_PIDS+=($!)
        NODE_PORTS+=("$port")
    done
    for port in "${NODE_PORTS[@]}"; do
        local tries=0
        until redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; do
            tries=$((tries + 1))
            if [ "$tries" -gt 100 ]; then
                echo "redis-server on port $port did not start; log:" >&2
                tail -5 "$NODE_DIR/node-$port.log" >&2 || true
                return 1
            fi
            sleep 0.05
        done
    done
}

stop_nodes() {
    local pid
    for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${NODE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    local dir
    for dir in "${NODE_DIRS[@]}"; do rm -rf "$dir"; done
    NODE_DIRS=()
    NODE_PIDS=()
    NODE_PORTS=()
}

# start_cluster PRIMARIES REPLICAS: a Redis Cluster on free loopback ports (each node with its own cluster bus port and
# config file), created with redis-cli --cluster create and awaited until every node reports cluster_state:ok. Sets
# CLUSTER_PORTS, adds to NODE_PORTS and NODE_PIDS (stop with stop_nodes, also after start_nodes) and sets CLUSTER_URL
# (redis-cluster://…).
start_cluster() {
    local primaries=$1 replicas=$2
    local count=$((primaries * (1 + replicas)))
    NODE_DIR=$(mktemp -d /tmp/swift-caches-cluster.XXXXXX)
    NODE_DIRS+=("$NODE_DIR")
    CLUSTER_PORTS=()
    local i
    for ((i = 0; i < count; i++)); do
        local port bus
        port=$(free_port)
        bus=$(free_port)
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no --dir "$NODE_DIR" \
            --logfile "$NODE_DIR/node-$port.log" --cluster-enabled yes --cluster-port "$bus" \
            --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 2000 &
        NODE_PIDS+=($!)
        NODE_PORTS+=("$port")
        CLUSTER_PORTS+=("$port")
    done
    local port addresses=()
    for port in "${CLUSTER_PORTS[@]}"; do
        local tries=0
        until redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; do
            tries=$((tries + 1))
            [ "$tries" -gt 100 ] && { echo "redis-server on port $port did not start" >&2; tail -5 "$NODE_DIR/node-$port.log" >&2; return 1; }
            sleep 0.05
        done
        addresses+=("127.0.0.1:$port")
    done
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas "$replicas" --cluster-yes >"$NODE_DIR/create.log" 2>&1 ||
        { echo "redis-cli --cluster create failed:" >&2; tail -20 "$NODE_DIR/create.log" >&2; return 1; }
    local tries=0
    for port in "${CLUSTER_PORTS[@]}"; do
        until redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; do
            tries=$((tries + 1))
            [ "$tries" -gt 600 ] && { echo "the cluster did not settle" >&2; return 1; }
            sleep 0.05
        done
    done
    CLUSTER_URL="redis-cluster://$(IFS=,; echo "${addresses[*]}")"
}
