#!/usr/bin/env bash
# The test command: installs missing dependencies, then runs the format check, clippy and the
# whole test suite. Must run as root: the end-to-end tests create network namespaces.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: ERROR: must run as root: the tests create network namespaces," >&2
  echo "  veth pairs and wireguard-go interfaces. Run: sudo scripts/test.sh" >&2
  exit 1
fi

step() { echo "==> $*"; }

step "scripts/install-deps.sh"
scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings

# --no-fail-fast: run every test binary and show every failure, still exiting non-zero.
step "cargo test --all-targets --no-fail-fast"
cargo test --all-targets --no-fail-fast
