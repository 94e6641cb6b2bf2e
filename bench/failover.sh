#!/usr/bin/env bash
# Benchmark: hub-failure detection and switchover of `fabric serve` in the netns lab (root).
# Boots the shipped topology (release build), runs the controller in vps01's namespace, and
# RUNS times: cuts CHR01's underlay veth in the inet namespace, measures (a) the time until the
# controller has persisted the new epoch (detection + decision) and (b) the time until vps01
# pings CHR02's tunnel address over its re-pointed wg0 peer; then restores the link and runs
# `fabric failback`. A `fabric agent` runs on Z640, so (c) is the time until Z640 — a spoke —
# pings VPS01's wg0 address through CHR02 (its agent applied the new epoch). Prints p50/p99,
# and the controller's idle RSS and CPU over IDLE_S seconds at the default probe interval.
#
#   sudo bench/failover.sh               # 20 kills
#   RUNS=50 IDLE_S=60 sudo bench/failover.sh
#   SERVICES=1 sudo bench/failover.sh    # with the tls and rest signals on (lab stand-ins)
#
# The bench topology is the shipped one with hold_down_s: 0 (a manual failback starts a
# hold-down, which would otherwise delay the next kill's failover by 60 s). Traffic stays
# inside the lab's namespaces. Everything is torn down on exit (lab down kills the lab's
# processes by PID).
set -euo pipefail

RUNS=${RUNS:-20}
SERVICES=${SERVICES:-0}
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
UP_ARGS=() SERVE_ARGS=() HEALTHY='"tunnel": Good.*"underlay": Good'
if [ "$SERVICES" = 1 ]; then
    UP_ARGS=(--rest-standins)
    SERVE_ARGS=(--routeros-credentials "/run/fabric-lab/$PREFIX/rest")
    HEALTHY='"rest": Good, "tls": Good, "tunnel": Good, "underlay": Good'
fi
"$FABRIC" lab --prefix "$PREFIX" up -t "$WORK/topology.yaml" "${UP_ARGS[@]}" >/dev/null
CTL=$WORK/control.sock
"$FABRIC" lab --prefix "$PREFIX" exec vps01 -- "$FABRIC" serve -t "$WORK/topology.yaml" \
    --secrets "/run/fabric-lab/$PREFIX/secrets" --state-dir "$WORK/state" --control "$CTL" \
    "${SERVE_ARGS[@]}" 2>"$WORK/serve.log" &

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# wait_for SECONDS CMD…: polls CMD every 5 ms until it succeeds or SECONDS pass.
wait_for() {
    local deadline=$(( $(now_ms) + $1 * 1000 )); shift
    until "$@" >/dev/null 2>&1; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.005
    done
}
healthy() { "$FABRIC" status --control "$CTL" | grep -q "last round.*$HEALTHY"; }
# SERVICES=1 fences for real (REST credentials given), and failback does not unfence: wait
# for run $1's fence attempt to end, then re-enable CHR01's fabric peers over its REST stand-in.
fence_done() { [ "$(grep -c -E 'fenced: fabric-owned peers|fence not possible' "$WORK/serve.log")" -ge "$1" ]; }
unfence_chr01() {
    local rest=/run/fabric-lab/$PREFIX/rest url=https://203.0.113.10:8443/rest/interface/wireguard/peers
    local auth; auth="user = \"fabric:$(cat "$rest/chr01.password")\""
    local c=(ip netns exec "$PREFIX-vps01" curl -sf --max-time 3 --cacert "$rest/chr01.crt" -K -)
    local ids; ids=$(echo "$auth" | "${c[@]}" "$url" |
        jq -r '.[] | select((.comment // "") | startswith("fabric:")) | select(.disabled == "true") | .[".id"]')
    for id in $ids; do
        echo "$auth" | "${c[@]}" -X PATCH -H 'content-type: application/json' -d '{"disabled":"false"}' "$url/$id" >/dev/null
    done
}
epoch_is() { grep -q "\"epoch\":$1," "$WORK/state/state.json"; }
reaches_chr02() { "$FABRIC" lab --prefix "$PREFIX" exec vps01 -- ping -c1 -W0.2 10.0.12.2; }
# z640_via ENDPOINT: Z640's wg0 peer is that hub and Z640 pings VPS01's wg0 address.
z640_via() {
    "$FABRIC" lab --prefix "$PREFIX" exec z640 -- wg show wg0 endpoints | grep -q "$1" &&
        "$FABRIC" lab --prefix "$PREFIX" exec z640 -- ping -c1 -W0.2 10.0.12.20
}

wait_for 20 healthy || { echo "controller did not come up:"; cat "$WORK/serve.log"; exit 1; }
"$FABRIC" lab --prefix "$PREFIX" exec z640 -- "$FABRIC" agent --node z640 \
    --controller https://198.51.100.20:8444 -t "$WORK/topology.yaml" \
    --secrets "/run/fabric-lab/$PREFIX/secrets" --state-dir "$WORK/agent" 2>"$WORK/agent.log" &
LINK=$(ip -n "$PREFIX-inet" route get 203.0.113.10 | awk '{for (i=1;i<NF;i++) if ($i=="dev") print $(i+1)}')
: > "$WORK/detect"; : > "$WORK/ping"; : > "$WORK/spoke"
epoch=0
for i in $(seq 1 "$RUNS"); do
    wait_for 20 z640_via 203.0.113.10 || { echo "run $i: z640 not on chr01"; cat "$WORK/agent.log"; exit 1; }
    t0=$(now_ms)
    ip -n "$PREFIX-inet" link set "$LINK" down
    epoch=$((epoch + 1))
    wait_for 10 epoch_is "$epoch" || { echo "run $i: no failover"; cat "$WORK/serve.log"; exit 1; }
    t1=$(now_ms)
    wait_for 10 reaches_chr02 || { echo "run $i: vps01 cannot reach chr02"; exit 1; }
    t2=$(now_ms)
    wait_for 10 z640_via 203.0.113.20 || { echo "run $i: z640 did not follow"; cat "$WORK/agent.log"; exit 1; }
    t3=$(now_ms)
    echo $((t1 - t0)) >> "$WORK/detect"; echo $((t2 - t0)) >> "$WORK/ping"; echo $((t3 - t0)) >> "$WORK/spoke"
    printf 'run %2d: detection %4d ms, vps01 -> chr02 %4d ms, spoke z640 -> vps01 via chr02 %4d ms\n' "$i" $((t1 - t0)) $((t2 - t0)) $((t3 - t0))
    ip -n "$PREFIX-inet" link set "$LINK" up
    ip -n "$PREFIX-inet" route replace 203.0.113.10/32 dev "$LINK"   # dropped with the link
    if [ "$SERVICES" = 1 ]; then
        wait_for 10 fence_done "$i" || { echo "run $i: no fence outcome"; exit 1; }
        unfence_chr01
    fi
    "$FABRIC" failback --control "$CTL" >/dev/null
    epoch=$((epoch + 1))
    wait_for 20 healthy || { echo "run $i: chr01 not healthy again"; exit 1; }
done

pct() { sort -n "$1" | awk -v p="$2" '{v[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print v[i]}'; }
echo
echo "runs: $RUNS"
echo "(a) detection (cut -> epoch persisted):   p50 $(pct "$WORK/detect" 50) ms, p99 $(pct "$WORK/detect" 99) ms"
echo "(b) cut -> vps01 pings chr02 over wg0:     p50 $(pct "$WORK/ping" 50) ms, p99 $(pct "$WORK/ping" 99) ms"
echo "(c) cut -> spoke z640 pings vps01 via chr02: p50 $(pct "$WORK/spoke" 50) ms, p99 $(pct "$WORK/spoke" 99) ms (targets p50 <= 1000, p99 <= 2000; keepalived VRRP default takeover ~3600)"

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
