#!/usr/bin/env bash
# Install what fabric's tests need on Debian, as root. Idempotent: installs only what is
# missing, runs `apt-get update` at most once and only when something must be installed.
# Quiet on success; on failure prints the failing tool's output and exits non-zero.
set -euo pipefail

# Debian packages the test suite uses (wireguard-go + wireguard-tools: the kernel here has no
# WireGuard module; iproute2/iputils-ping: namespaces, veth, ping across tunnels; nftables:
# loss injection; bind9-dnsutils/dnsperf/unbound: DNS tests and the unbound baseline).
APT_PACKAGES=(wireguard-go wireguard-tools iproute2 iputils-ping nftables bind9-dnsutils dnsperf unbound)
# routeros-lsp validates rendered RouterOS scripts; its JSON output format is pinned by this version.
ROUTEROS_LSP_VERSION=0.2.3

die() { echo "install-deps: ERROR: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  die "must run as root (installs Debian packages; the tests create network namespaces)"
fi
command -v dpkg-query >/dev/null || die "dpkg-query not found: this script supports Debian only"

log=$(mktemp /tmp/install-deps.XXXXXX.log)
trap 'rm -f "$log"' EXIT

# run CMD...: run quietly; on failure show its output and stop.
run() {
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    die "command failed: $*"
  fi
}

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

has_pip() { python3 -m pip --version >/dev/null 2>&1; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
command -v python3 >/dev/null || missing+=(python3)
if ! has_pip; then
  missing+=(python3-pip)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  run apt-get update -qq
  run apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

lsp_version() { python3 -m pip show routeros-lsp 2>/dev/null | sed -n 's/^Version: //p'; }

if [ "$(lsp_version)" != "$ROUTEROS_LSP_VERSION" ]; then
  echo "install-deps: pip install routeros-lsp==$ROUTEROS_LSP_VERSION"
  pip_args=(install --quiet --disable-pip-version-check --root-user-action=ignore)
  # Debian's own python3 is "externally managed" (PEP 668); a pyenv or venv python is not.
  stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
  if [ -f "$stdlib/EXTERNALLY-MANAGED" ]; then
    pip_args+=(--break-system-packages)
  fi
  run python3 -m pip "${pip_args[@]}" "routeros-lsp==$ROUTEROS_LSP_VERSION"
  if command -v pyenv >/dev/null; then
    run pyenv rehash
  fi
fi

# Check that every tool the tests call is on PATH now.
for tool in wireguard-go wg wg-quick ip ping nft dig dnsperf unbound unshare mount routeros-lsp; do
  command -v "$tool" >/dev/null || die "'$tool' is still not on PATH after installing"
done
[ "$(lsp_version)" = "$ROUTEROS_LSP_VERSION" ] || die "routeros-lsp $ROUTEROS_LSP_VERSION is not installed"
