#!/usr/bin/env bash
# Install what fabric's tests need on Debian, as root. Idempotent: installs only what is
# missing, runs `apt-get update` at most once and only when something must be installed.
# Quiet on success; on failure prints the failing tool's output and exits non-zero.
set -euo pipefail

# Debian packages the test suite uses (wireguard-go + wireguard-tools: the kernel here has no
# WireGuard module; iproute2/iputils-ping: namespaces, veth, ping across tunnels; nftables:
# loss injection; bind9-dnsutils/dnsperf/unbound: DNS tests and the unbound baseline;
# qemu-system-x86/busybox/kmod/xz-utils: the guest that runs the kernel WireGuard tests;
# curl: scraping `fabric serve --metrics` inside a lab namespace).
APT_PACKAGES=(wireguard-go wireguard-tools iproute2 iputils-ping nftables bind9-dnsutils dnsperf unbound
  qemu-system-x86 busybox kmod xz-utils curl)
# The guest kernel for tests/apply_kernel.rs: Debian's linux-image-amd64 (it has the wireguard,
# 9p and overlay modules), unpacked here, not installed: nothing on this machine changes.
GUEST_KERNEL_DIR=/var/cache/fabric-test/guest-kernel
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

# guest_kernel_ok DIR: DIR/boot/vmlinuz-V exists and modprobe finds the modules the guest needs.
guest_kernel_ok() {
  local v
  for f in "$1"/boot/vmlinuz-*; do
    [ -e "$f" ] || continue
    v=${f##*/vmlinuz-}
    for m in wireguard 9p 9pnet_virtio overlay; do
      modprobe -d "$1" -S "$v" --show-depends "$m" >/dev/null 2>&1 || continue 2
    done
    return 0
  done
  return 1
}

if ! guest_kernel_ok "$GUEST_KERNEL_DIR/root"; then
  kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}'; }
  pkg=$(kernel_pkg)
  if [ -z "$pkg" ]; then
    run apt-get update -qq
    pkg=$(kernel_pkg)
  fi
  [ -n "$pkg" ] || die "cannot find the package behind linux-image-amd64"
  echo "install-deps: unpacking $pkg into $GUEST_KERNEL_DIR (guest kernel for the kernel WireGuard tests)"
  rm -rf "$GUEST_KERNEL_DIR"
  mkdir -p "$GUEST_KERNEL_DIR/deb"
  # apt's sandbox user cannot write to a root-owned directory; download as root, quietly.
  (cd "$GUEST_KERNEL_DIR/deb" && run apt-get download -o APT::Sandbox::User=root "$pkg")
  run dpkg-deb -x "$GUEST_KERNEL_DIR"/deb/*.deb "$GUEST_KERNEL_DIR/root"
  rm -rf "$GUEST_KERNEL_DIR/deb"
  for f in "$GUEST_KERNEL_DIR"/root/boot/vmlinuz-*; do
    run depmod -b "$GUEST_KERNEL_DIR/root" "${f##*/vmlinuz-}"
  done
  guest_kernel_ok "$GUEST_KERNEL_DIR/root" || die "$pkg lacks the wireguard, 9p or overlay module"
fi

# /dev/net/tun as Debian's udev makes it (0666): the unit runs `fabric serve` as an unprivileged
# user with only CAP_NET_ADMIN, and tests/failover_lab.rs proves that set is enough. Hosts
# without udev (containers, minimal VMs) leave devtmpfs's 0600, which only root can open.
if [ ! -c /dev/net/tun ]; then
  mkdir -p /dev/net
  run mknod -m 0666 /dev/net/tun c 10 200
  echo "install-deps: created /dev/net/tun (0666, as Debian's udev makes it)"
elif [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  echo "install-deps: /dev/net/tun was $(stat -c %a /dev/net/tun); setting 0666 as Debian's udev does"
  run chmod 0666 /dev/net/tun
fi

# Check that every tool the tests call is on PATH now.
for tool in wireguard-go wg wg-quick ip ping nft dig dnsperf unbound unshare mount routeros-lsp \
  qemu-system-x86_64 busybox modprobe depmod xz; do
  command -v "$tool" >/dev/null || die "'$tool' is still not on PATH after installing"
done
[ "$(lsp_version)" = "$ROUTEROS_LSP_VERSION" ] || die "routeros-lsp $ROUTEROS_LSP_VERSION is not installed"
