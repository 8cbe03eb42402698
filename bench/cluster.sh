#!/usr/bin/env bash
# Cluster fan-out (issue 11 §7): receivers split over two nodes on one
# redis-server, senders on the first node. Parley x2 (fanout-server
# --redis-url) against Node socket.io x2 (node/fanout.mjs --redis-url, i.e.
# @socket.io/redis-adapter), same load generator, same session; then the
# cost of the adapter on one node (fanout-server with and without
# --redis-url). Servers and Redis share CPU 0, the loadgen runs on CPU 1.
#
# Usage: bench/cluster.sh [--quick] [--receivers N] [--rates LIST] [--step D] [--nice N]
# (--nice -10 favours the benchmark over other work on a shared box, as run.sh's)
# Writes bench/results/cluster-<timestamp>/ and prints a summary. Needs
# redis-server (Debian package) and the npm packages of the root workspace
# (npm ci) or of bench/node (npm install -w bench/node).
set -euo pipefail
cd "$(dirname "$0")/.."
RECEIVERS=1000
RATES=10,20,40,80,160,320,640,1280,2560
STEP=10s
LAT_DUR=20s
NICE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) RATES=20,80,320,1280; STEP=4s; LAT_DUR=8s ;;
    --receivers) RECEIVERS=$2; shift ;;
    --rates) RATES=$2; shift ;;
    --step) STEP=$2; shift ;;
    --nice) NICE=$2; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
BIN=bench/bin
mkdir -p "$BIN"
go build -o "$BIN/fanout-server" ./bench/fanout-server
go build -o "$BIN/loadgen" ./bench/loadgen
OUT="bench/results/cluster-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT/logs"
SCPU=0
LCPU=1
RPORT=3290
P1=3211
P2=3212

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_http() {
  for _ in $(seq 1 200); do
    code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$1/socket.io/?EIO=4&transport=polling" || true)
    [ "$code" != "000" ] && return 0
    sleep 0.05
  done
  echo "server on port $1 did not answer" >&2
  return 1
}

# cpu_ticks PID: user+system clock ticks of a process.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

nice -n "$NICE" taskset -c "$SCPU" redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >"$OUT/logs/redis.log" 2>&1 &
RPID=$!
pids+=("$RPID")
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS_URL="redis://127.0.0.1:$RPORT/0"
HZ=$(getconf CLK_TCK)

start_pair() { # kind redis-url(or empty) count
  local kind=$1 url=$2 n=$3 port
  spids=()
  for i in $(seq 1 "$n"); do
    port=$((P1 + i - 1))
    if [ "$kind" = parley ]; then
      nice -n "$NICE" taskset -c "$SCPU" "$BIN/fanout-server" --addr "127.0.0.1:$port" ${url:+--redis-url "$url"} >"$OUT/logs/$kind-$port.log" 2>&1 &
    else
      nice -n "$NICE" taskset -c "$SCPU" node bench/node/fanout.mjs --port "$port" ${url:+--redis-url "$url"} >"$OUT/logs/$kind-$port.log" 2>&1 &
    fi
    spids+=($!)
    pids+=($!)
  done
  for i in $(seq 1 "$n"); do wait_http $((P1 + i - 1)); done
}
stop_pair() {
  for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

run() { # label scenario recv-addrs extra...
  local label=$1 sc=$2 raddrs=$3
  shift 3
  local r0
  r0=$(cpu_ticks "$RPID")
  local t0=$SECONDS
  timeout 900 nice -n "$NICE" taskset -c "$LCPU" "$BIN/loadgen" -addr "127.0.0.1:$P1" ${raddrs:+-receiver-addrs "$raddrs"} \
    -scenario "$sc" -label "$label" -receivers "$RECEIVERS" "$@" >"$OUT/$label-$sc.txt" 2>&1 || true
  local r1
  r1=$(cpu_ticks "$RPID")
  local secs=$((SECONDS - t0))
  echo "redis CPU during $label $sc: $(awk -v t=$((r1 - r0)) -v hz="$HZ" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0 ? 100 * t / hz / s : 0) }')% of a core over ${secs}s (the loadgen's connect and drain time included)" | tee -a "$OUT/$label-$sc.txt"
  grep -E "max sustained|^step|p99|RESULT" "$OUT/$label-$sc.txt" | grep -v RESULT | tail -4
}

BOTH="127.0.0.1:$P1,127.0.0.1:$P2"
for kind in parley node; do
  echo "== $kind x2 on Redis"
  start_pair "$kind" "$REDIS_URL" 2
  run "$kind-x2" fanout "$BOTH" -rates "$RATES" -step "$STEP"
  run "$kind-x2" latency "$BOTH" -rate 40 -duration "$LAT_DUR"
  stop_pair
done
for mode in single redis; do
  echo "== parley x1 ($mode)"
  url=""
  [ "$mode" = redis ] && url=$REDIS_URL
  start_pair parley "$url" 1
  run "parley-x1-$mode" fanout "" -rates "$RATES" -step "$STEP"
  stop_pair
done
echo "results in $OUT"
