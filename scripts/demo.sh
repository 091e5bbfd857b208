#!/usr/bin/env bash
# make demo: starts 3 local Redis nodes (weights 1, 2, 1), runs the demo workload through one Cache over all of
# them, prints keys per node against the weights' share and the ops/s of each phase, then stops the nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/nodes.sh
trap stop_nodes EXIT

echo "building caches (release)..."
swift build -c release --product caches >/dev/null
if port_is_free 7001 && port_is_free 7002 && port_is_free 7003; then
    # The nodes of config/local.yaml.
    FIXED_PORTS="7001 7002 7003" start_nodes 3
    .build/release/caches demo --config config/local.yaml "$@"
else
    echo "ports 7001-7003 are taken: using free ports instead of config/local.yaml"
    start_nodes 3
    url="redis://127.0.0.1:${NODE_PORTS[0]},127.0.0.1:${NODE_PORTS[1]},127.0.0.1:${NODE_PORTS[2]}?weights=1,2,1&names=node-a,node-b,node-c"
    .build/release/caches demo --url "$url" "$@"
fi
