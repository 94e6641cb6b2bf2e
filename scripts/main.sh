#!/usr/bin/env bash
# The main job on the shipped topology: validate it, create any missing secrets (./secrets,
# git-ignored, 0600), and render every layout into out/<layout>/ (manifest.json in each).
set -euo pipefail
cd "$(dirname "$0")/.."
TOPOLOGY="${1:-topology.yaml}"
cargo build --release --quiet
FABRIC=target/release/fabric
"$FABRIC" check -t "$TOPOLOGY"
"$FABRIC" keys -t "$TOPOLOGY"
"$FABRIC" render -t "$TOPOLOGY" --all-layouts --out out
