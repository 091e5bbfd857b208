#!/usr/bin/env bash
# make demo-cluster: starts a local Redis Cluster (3 primaries, 3 replicas, created by redis-cli --cluster create),
# runs the demo workload through one Cache on it (redis-cluster://…), then stops the nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/nodes.sh
trap stop_nodes EXIT

echo "building caches (release)..."
swift build -c release --product caches >/dev/null
start_cluster 3 1
echo "cluster: $CLUSTER_URL"
.build/release/caches demo --url "$CLUSTER_URL" "$@"
