#!/usr/bin/env bash
# Two sfu-server nodes and one Redis on one machine: the worked example of docs/cluster.md,
# command for command. `signaling/tests/cluster_example.rs` runs it.
#
#   SFU_SERVER   the server binary (default: build and run it with cargo, release profile)
#
# It starts Redis and the two nodes, waits until node a lists both nodes, prints that list
# (after "nodes: "), and stops everything it started.
set -euo pipefail
SFU_SERVER=${SFU_SERVER:-"cargo run --release --bin sfu-server --"}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT

redis-server --port 6379 --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
pids+=($!)
$SFU_SERVER --redis redis://127.0.0.1:6379/ --node-id a \
  --http 127.0.0.1:8080 --udp 127.0.0.1:50000 --admin-http 127.0.0.1:8081 --workers 1 &
pids+=($!)
$SFU_SERVER --redis redis://127.0.0.1:6379/ --node-id b \
  --http 127.0.0.1:8090 --udp 127.0.0.1:50010 --admin-http 127.0.0.1:8091 --workers 1 &
pids+=($!)

# Both nodes registered, as node a sees them.
for _ in $(seq 100); do
  nodes=$(curl -s http://127.0.0.1:8081/api/nodes || true)
  if [[ $nodes == *'"id":"a"'*'"id":"b"'* ]]; then
    echo "nodes: $nodes"
    exit 0
  fi
  sleep 0.2
done
echo "the two nodes did not register: ${nodes:-no answer}" >&2
exit 1
