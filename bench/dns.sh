#!/usr/bin/env bash
# Benchmark: the fabric DNS server (examples/dns_serve, release build) against Debian's unbound
# serving the same zone from local-data, both on loopback, measured with dnsperf in one run.
# Prints qps (each round and the median), average/max latency of the saturating runs, p99
# latency at a fixed rate (dnsperf -v, one line per answer), lost queries and the ratio
# fabric/unbound.
#
#   bench/dns.sh                      # 3 rounds x (10 s throughput + 5 s latency) per server
#   ROUNDS=5 DURATION=20 CLIENTS=8 bench/dns.sh
#
# Needs: cargo, dnsperf, unbound, dig. Only loopback traffic. Everything it starts is killed
# by PID on exit.
set -euo pipefail

DURATION=${DURATION:-10}        # seconds of each throughput run
ROUNDS=${ROUNDS:-3}             # throughput rounds per server (alternating; the median is used)
LAT_DURATION=${LAT_DURATION:-5} # seconds of each latency run (also ROUNDS, alternating)
LAT_QPS=${LAT_QPS:-20000}       # fixed query rate of the latency run
CLIENTS=${CLIENTS:-4}           # dnsperf -c (client sockets)
THREADS=${THREADS:-2}           # dnsperf -T
OUTSTANDING=${OUTSTANDING:-100} # dnsperf -q (queries in flight)
SERVER_THREADS=${SERVER_THREADS:-2} # fabric worker threads = unbound num-threads
FABRIC_PORT=${FABRIC_PORT:-25353}
UNBOUND_PORT=${UNBOUND_PORT:-25354}
RECORDS=${RECORDS:-1000}
ZONE=bench.example.com

for tool in cargo dnsperf unbound dig awk; do
    command -v "$tool" >/dev/null || { echo "bench/dns.sh: '$tool' not found" >&2; exit 1; }
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "== building (release)"
(cd "$ROOT" && cargo build --release --quiet --example dns_serve)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVE=$TARGET_DIR/release/examples/dns_serve

echo "== generating a zone of $RECORDS A records, the unbound config and the query file"
awk -v n="$RECORDS" -v zone="$ZONE" -v tmp="$TMP" -v port="$UNBOUND_PORT" \
    -v threads="$SERVER_THREADS" 'BEGIN {
    json = tmp "/zone.json"; conf = tmp "/unbound.conf"; queries = tmp "/queries.txt"
    printf "{\"origin\":\"%s.\",\"soa\":{\"mname\":\"ns1.%s.\",\"rname\":\"hostmaster.%s.\",", zone, zone, zone > json
    printf "\"serial\":1,\"refresh\":3600,\"retry\":600,\"expire\":86400,\"minimum\":300},\"ns\":[\"ns1.%s.\"],\"records\":[", zone >> json
    printf "{\"name\":\"ns1.%s.\",\"ttl\":300,\"rdata\":{\"A\":\"10.0.0.53\"}}", zone >> json
    print "server:" > conf
    printf "  interface: 127.0.0.1@%d\n  port: %d\n  num-threads: %d\n  so-reuseport: yes\n", port, port, threads >> conf
    printf "  do-daemonize: no\n  chroot: \"\"\n  username: \"\"\n  directory: \"%s\"\n  pidfile: \"\"\n", tmp >> conf
    printf "  use-syslog: no\n  verbosity: 0\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n" >> conf
    printf "  module-config: \"iterator\"\n  minimal-responses: yes\n" >> conf
    printf "  local-zone: \"%s.\" static\n", zone >> conf
    printf "  local-data: \"%s. 3600 IN SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 300\"\n", zone, zone, zone >> conf
    printf "  local-data: \"%s. 3600 IN NS ns1.%s.\"\n", zone, zone >> conf
    printf "  local-data: \"ns1.%s. 300 IN A 10.0.0.53\"\n", zone >> conf
    for (i = 0; i < n; i++) {
        host = sprintf("host%04d.%s.", i, zone)
        ip = sprintf("10.%d.%d.%d", int(i / 65536) % 256, int(i / 256) % 256, i % 256)
        printf ",{\"name\":\"%s\",\"ttl\":300,\"rdata\":{\"A\":\"%s\"}}", host, ip >> json
        printf "  local-data: \"%s 300 IN A %s\"\n", host, ip >> conf
        # Query mix: every name A (positive); every 10th name also AAAA (NODATA) and a
        # missing name (NXDOMAIN).
        printf "%s A\n", host >> queries
        if (i % 10 == 0) { printf "%s AAAA\n", host >> queries; printf "missing%04d.%s. A\n", i, zone >> queries }
    }
    print "]}" >> json
}'
echo "   $(wc -l < "$TMP/queries.txt") queries in the file (A, NODATA, NXDOMAIN)"

wait_ready() { # port name
    for _ in $(seq 1 100); do
        if dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short "ns1.$ZONE" A 2>/dev/null | grep -q 10.0.0.53; then
            return 0
        fi
        sleep 0.1
    done
    echo "bench/dns.sh: $2 did not answer on port $1" >&2
    exit 1
}

echo "== starting fabric ($SERVER_THREADS threads, $SERVER_THREADS UDP sockets) on 127.0.0.1:$FABRIC_PORT"
RUST_LOG=warn "$SERVE" "$TMP/zone.json" "127.0.0.1:$FABRIC_PORT" \
    --threads "$SERVER_THREADS" --udp-sockets "$SERVER_THREADS" >"$TMP/fabric.log" 2>&1 &
FABRIC_PID=$!
PIDS+=("$FABRIC_PID")
wait_ready "$FABRIC_PORT" fabric
echo "== starting unbound (num-threads $SERVER_THREADS, so-reuseport) on 127.0.0.1:$UNBOUND_PORT"
unbound -d -c "$TMP/unbound.conf" >"$TMP/unbound.log" 2>&1 &
UNBOUND_PID=$!
PIDS+=("$UNBOUND_PID")
wait_ready "$UNBOUND_PORT" unbound

# Both servers must give the same answers (status, answer and authority records) before their
# speed is compared.
for q in "host0001.$ZONE A" "host0002.$ZONE AAAA" "missing0000.$ZONE A"; do
    # shellcheck disable=SC2086
    a=$(dig @127.0.0.1 -p "$FABRIC_PORT" +noall +answer +authority +comments $q | grep -E 'status|[[:space:]]IN[[:space:]]' | sed 's/id: [0-9]*//')
    # shellcheck disable=SC2086
    b=$(dig @127.0.0.1 -p "$UNBOUND_PORT" +noall +answer +authority +comments $q | grep -E 'status|[[:space:]]IN[[:space:]]' | sed 's/id: [0-9]*//')
    if [ "$(echo "$a" | grep -c status)" != 1 ] || [ "$a" != "$b" ]; then
        echo "bench/dns.sh: answers differ for '$q':" >&2; echo "$a" >&2; echo "$b" >&2; exit 1
    fi
done

# CPU time (user + system, clock ticks) used so far by a process.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Throughput: saturating dnsperf run, no per-query output (printing would slow dnsperf down).
# Also reports the server's CPU time per answered query, which is less sensitive than qps to
# other load on the machine.
throughput() { # port label pid -> "qps lost avg max cpu_us_per_query"
    local before after
    before=$(cpu_ticks "$3")
    dnsperf -s 127.0.0.1 -p "$1" -d "$TMP/queries.txt" -l "$DURATION" -c "$CLIENTS" -T "$THREADS" \
        -q "$OUTSTANDING" >"$TMP/$2.tput" 2>&1 || true
    after=$(cpu_ticks "$3")
    awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
         /Queries completed/ { done = $3 }
         /Queries per second/ { qps = $4 }
         /Queries lost/ { lost = $3 }
         /Average Latency/ { avg = $4; max = $8; gsub(/[(),]/, "", max) }
         END { if (qps == "" || done == 0) exit 1; print qps, lost, avg, max, ticks / hz * 1e6 / done }' "$TMP/$2.tput"
}
# Latency: dnsperf -v at a fixed rate prints every answer's latency; p99 is taken from those.
latency() { # port label -> "p99 lost"
    dnsperf -s 127.0.0.1 -p "$1" -d "$TMP/queries.txt" -l "$LAT_DURATION" -c "$CLIENTS" \
        -T "$THREADS" -Q "$LAT_QPS" -v >"$TMP/$2.lat" 2>&1 || true
    grep '^> ' "$TMP/$2.lat" | awk '{ print $NF }' | sort -g >"$TMP/$2.sorted"
    awk -v lost="$(awk '/Queries lost/ { print $3 }' "$TMP/$2.lat")" \
        '{ v[NR] = $1 } END { if (NR == 0) exit 1; k = int(NR * 0.99); if (k < 1) k = 1; print v[k], lost }' \
        "$TMP/$2.sorted"
}
ms() { awk -v s="$1" 'BEGIN { printf "%.3f", s * 1000 }'; }

echo "== load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores are shared by dnsperf and the server)"
echo "== throughput: $ROUNDS round(s) of $DURATION s per server, alternating; dnsperf -c $CLIENTS -T $THREADS -q $OUTSTANDING"
printf '%-6s %-8s %10s %8s %8s %6s %14s\n' round server qps "avg ms" "max ms" lost "CPU us/query"
F_ALL=(); U_ALL=(); F_CPU=(); U_CPU=(); F_LOST=0; U_LOST=0
for round in $(seq 1 "$ROUNDS"); do
    for server in fabric unbound; do
        port=$FABRIC_PORT; pid=$FABRIC_PID
        [ "$server" = unbound ] && port=$UNBOUND_PORT && pid=$UNBOUND_PID
        read -r qps lost avg max cpu < <(throughput "$port" "$server" "$pid") \
            || { echo "dnsperf failed: $(cat "$TMP/$server.tput")" >&2; exit 1; }
        printf '%-6s %-8s %10.0f %8s %8s %6s %14.2f\n' "$round" "$server" "$qps" "$(ms "$avg")" "$(ms "$max")" "$lost" "$cpu"
        if [ "$server" = fabric ]; then F_ALL+=("$qps"); F_CPU+=("$cpu"); F_LOST=$((F_LOST + lost));
        else U_ALL+=("$qps"); U_CPU+=("$cpu"); U_LOST=$((U_LOST + lost)); fi
    done
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
F_MED=$(median "${F_ALL[@]}"); U_MED=$(median "${U_ALL[@]}")

echo "== latency: $ROUNDS round(s) of $LAT_DURATION s per server at a fixed $LAT_QPS qps (dnsperf -v), alternating"
printf '%-6s %-8s %8s %6s\n' round server "p99 ms" lost
F_P99S=(); U_P99S=(); F_LLOST=0; U_LLOST=0
for round in $(seq 1 "$ROUNDS"); do
    read -r p99 lost < <(latency "$FABRIC_PORT" fabric) || { echo "dnsperf -v failed" >&2; exit 1; }
    printf '%-6s %-8s %8s %6s\n' "$round" fabric "$(ms "$p99")" "$lost"
    F_P99S+=("$p99"); F_LLOST=$((F_LLOST + lost))
    read -r p99 lost < <(latency "$UNBOUND_PORT" unbound) || { echo "dnsperf -v failed" >&2; exit 1; }
    printf '%-6s %-8s %8s %6s\n' "$round" unbound "$(ms "$p99")" "$lost"
    U_P99S+=("$p99"); U_LLOST=$((U_LLOST + lost))
done
F_P99=$(median "${F_P99S[@]}"); U_P99=$(median "${U_P99S[@]}")

printf '\n%-8s %12s %26s %12s %20s\n' server "median qps" "median p99 ms @ $LAT_QPS qps" "lost (all)" "median CPU us/query"
printf '%-8s %12.0f %26s %12s %20.2f\n' fabric "$F_MED" "$(ms "$F_P99")" "$((F_LOST + F_LLOST))" "$(median "${F_CPU[@]}")"
printf '%-8s %12.0f %26s %12s %20.2f\n' unbound "$U_MED" "$(ms "$U_P99")" "$((U_LOST + U_LLOST))" "$(median "${U_CPU[@]}")"
awk -v f="$F_MED" -v u="$U_MED" 'BEGIN { printf "\nratio fabric/unbound (median qps): %.2fx\n", f / u }'
