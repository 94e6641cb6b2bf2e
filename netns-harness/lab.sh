#!/usr/bin/env bash
# The lab: boots the topology in network namespaces (root). Builds fabric if needed, then runs
# `fabric lab ARGS…`; see netns-harness/README.md.  Usage: lab.sh up|down|status|exec NODE -- CMD…
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
case "${1:-}" in
  up) shift; exec target/release/fabric lab up -t topology.yaml "$@" ;;
  "") echo "usage: $0 up [--layout L] | down | status | exec NODE -- CMD..." >&2; exit 2 ;;
  *) exec target/release/fabric lab "$@" ;;
esac
