# Sourced by the demo and benchmark scripts: start and stop local loopback redis-server nodes.
# start_nodes N [extra redis-server args...] sets NODE_PORTS (array) and NODE_DIR; stop_nodes stops them all.
NODE_PORTS=()
NODE_PIDS=()
NODE_DIR=""

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
    [ -n "$NODE_DIR" ] && rm -rf "$NODE_DIR"
    NODE_PIDS=()
    NODE_PORTS=()
}
