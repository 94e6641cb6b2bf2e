#!/usr/bin/env bash
# Benchmark: hub-failure detection and switchover of `fabric serve` in the netns lab (root).
# Boots the shipped topology (release build), runs the controller in vps01's namespace, and
# RUNS times: cuts CHR01's underlay veth in the inet namespace, measures (a) the time until the
# controller has persisted the new epoch (detection + decision) and (b) the time until vps01
# pings CHR02's tunnel address over its re-pointed wg0 peer; then restores the link and runs
# `fabric failback`. Prints p50/p99 of both, and the controller's idle RSS and CPU over
# IDLE_S seconds at the default probe interval.
#
#   sudo bench/failover.sh               # 20 kills
#   RUNS=50 IDLE_S=60 sudo bench/failover.sh
#
# The bench topology is the shipped one with hold_down_s: 0 (a manual failback starts a
# hold-down, which would otherwise delay the next kill's failover by 60 s). Spokes moving via
# agents are not part of this figure (the agent lives on another branch): (b) is the
# controller's own wg0 path. Traffic stays inside the lab's namespaces. Everything is torn
# down on exit (lab down kills the lab's processes by PID).
set -euo pipefail

RUNS=${RUNS:-20}
IDLE_S=${IDLE_S:-30}
PREFIX=${PREFIX:-fbench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
FABRIC=$TARGET/release/fabric

[ "$(id -u)" = 0 ] || { echo "bench/failover.sh: needs root (network namespaces)" >&2; exit 1; }
(cd "$ROOT" && cargo build --release --quiet)

WORK=$(mktemp -d)
cleanup() {
    "$FABRIC" lab --prefix "$PREFIX" down >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

sed 's/^  hold_down_s: 60 /  hold_down_s: 0  /' "$ROOT/topology.yaml" > "$WORK/topology.yaml"
grep -q '^  hold_down_s: 0 ' "$WORK/topology.yaml" || { echo "could not set hold_down_s" >&2; exit 1; }
"$FABRIC" lab --prefix "$PREFIX" up -t "$WORK/topology.yaml" >/dev/null
CTL=$WORK/control.sock
"$FABRIC" lab --prefix "$PREFIX" exec vps01 -- "$FABRIC" serve -t "$WORK/topology.yaml" \
    --secrets "/run/fabric-lab/$PREFIX/secrets" --state-dir "$WORK/state" --control "$CTL" \
    2>"$WORK/serve.log" &

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# wait_for SECONDS CMD…: polls CMD every 5 ms until it succeeds or SECONDS pass.
wait_for() {
    local deadline=$(( $(now_ms) + $1 * 1000 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.005
    done
}
healthy() { "$FABRIC" status --control "$CTL" | grep -q 'last round.*"tunnel": Good.*"underlay": Good'; }
epoch_is() { grep -q "\"epoch\":$1," "$WORK/state/state.json"; }
reaches_chr02() { "$FABRIC" lab --prefix "$PREFIX" exec vps01 -- ping -c1 -W0.2 10.0.12.2; }

wait_for 20 healthy || { echo "controller did not come up:"; cat "$WORK/serve.log"; exit 1; }
LINK=$(ip -n "$PREFIX-inet" route get 203.0.113.10 | awk '{for (i=1;i<NF;i++) if ($i=="dev") print $(i+1)}')
: > "$WORK/detect"; : > "$WORK/ping"
epoch=0
for i in $(seq 1 "$RUNS"); do
    t0=$(now_ms)
    ip -n "$PREFIX-inet" link set "$LINK" down
    epoch=$((epoch + 1))
    wait_for 10 epoch_is "$epoch" || { echo "run $i: no failover"; cat "$WORK/serve.log"; exit 1; }
    t1=$(now_ms)
    wait_for 10 reaches_chr02 || { echo "run $i: vps01 cannot reach chr02"; exit 1; }
    t2=$(now_ms)
    echo $((t1 - t0)) >> "$WORK/detect"; echo $((t2 - t0)) >> "$WORK/ping"
    printf 'run %2d: detection %4d ms, vps01 -> chr02 over wg0 %4d ms\n' "$i" $((t1 - t0)) $((t2 - t0))
    ip -n "$PREFIX-inet" link set "$LINK" up
    ip -n "$PREFIX-inet" route replace 203.0.113.10/32 dev "$LINK"   # dropped with the link
    "$FABRIC" failback --control "$CTL" >/dev/null
    epoch=$((epoch + 1))
    wait_for 20 healthy || { echo "run $i: chr01 not healthy again"; exit 1; }
done

pct() { sort -n "$1" | awk -v p="$2" '{v[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print v[i]}'; }
echo
echo "runs: $RUNS"
echo "(a) detection (cut -> epoch persisted):   p50 $(pct "$WORK/detect" 50) ms, p99 $(pct "$WORK/detect" 99) ms"
echo "(b) cut -> vps01 pings chr02 over wg0:     p50 $(pct "$WORK/ping" 50) ms, p99 $(pct "$WORK/ping" 99) ms"

PID=""
for p in $(ip netns pids "$PREFIX-vps01"); do
    if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q "^$FABRIC serve"; then PID=$p; fi
done
[ -n "$PID" ] || { echo "controller PID not found"; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
a=$(ticks); t0=$(now_ms)
sleep "$IDLE_S"   # the measurement window itself
b=$(ticks); t1=$(now_ms)
hz=$(getconf CLK_TCK)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID/status")
echo "idle over ${IDLE_S} s at the default interval: CPU $(awk -v d=$((b - a)) -v hz="$hz" -v ms=$((t1 - t0)) 'BEGIN {printf "%.2f", 100 * d / hz / (ms / 1000)}') %, RSS $((rss / 1024)) MB"
