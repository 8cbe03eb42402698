#!/usr/bin/env bash
# The whole /chat path on a two-node cluster with PostgreSQL (issue 12 §5):
# decode, validate, durable insert, ack, fan-out. Parley x2 (bin/parley
# --redis-url --database-url) against Node x2 (bench/node/chat.mjs
# --redis-url --database-url: socket.io 4.8 + @socket.io/redis-adapter +
# pg), one redis-server and one PostgreSQL (a throwaway server from
# .ci/with-postgres), same load generator, same session.
#   chat:    receivers split over both nodes, senders on the first: max
#            sustained deliveries/s (every acked message is persisted)
#   persist: 100 rooms x 10 senders spread over both nodes: persisted msg/s
# Servers, Redis and PostgreSQL share CPU 0; the loadgen runs on CPU 1.
#
# Usage: bench/cluster-chat.sh [--quick] [--receivers N] [--rates LIST] [--step D] [--nice N]
# Writes bench/results/cluster-chat-<timestamp>/ and prints a summary.
# Needs redis-server and postgresql (Debian packages) and the npm packages
# of bench/node (cd bench/node && npm install) plus the root workspace's
# (npm ci) for @socket.io/redis-adapter.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PARLEY_DATABASE_URL:-}" ]; then
  exec .ci/with-postgres "$0" "$@"
fi
RECEIVERS=1000
SENDERS=50
RATES=5,10,20,40,80,160,320,640,1280
STEP=10s
PERSIST_DUR=10s
NICE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) RATES=10,40,160,640; STEP=4s; PERSIST_DUR=5s ;;
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
go build -o "$BIN/parley" ./cmd/parley
go build -o "$BIN/loadgen" ./bench/loadgen
OUT="bench/results/cluster-chat-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT/logs"
SCPU=0
LCPU=1
RPORT=3291
P1=3221
P2=3222
DB=$PARLEY_DATABASE_URL
unset PARLEY_DATABASE_URL PARLEY_TEST_DATABASE_URL # the nodes get it by flag

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

wait_http() {
  for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$1/healthz" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.05
  done
  echo "server on port $1 did not answer" >&2
  return 1
}

nice -n "$NICE" taskset -c "$SCPU" redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >"$OUT/logs/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
REDIS_URL="redis://127.0.0.1:$RPORT/0"

# A fresh schema per server kind, so neither reads the other's rows and
# both start from an empty table.
reset_db() { psql -q "$DB" -c 'DROP TABLE IF EXISTS node_messages' >/dev/null 2>&1 || true; }

start_pair() { # kind
  local kind=$1 port
  spids=()
  for port in "$P1" "$P2"; do
    if [ "$kind" = parley ]; then
      # Rate limits off: the scenario measures the server, not the
      # per-socket limit (as bench/README.md's chat runs).
      nice -n "$NICE" taskset -c "$SCPU" "$BIN/parley" --addr "127.0.0.1:$port" --redis-url "$REDIS_URL" \
        --database-url "$DB" --data-dir "$OUT/tmp-$port" --log-level warn \
        --rate-limits chatMessage=0:0,joinRoom=0:0 >"$OUT/logs/$kind-$port.log" 2>&1 &
    else
      nice -n "$NICE" taskset -c "$SCPU" node bench/node/chat.mjs --port "$port" --redis-url "$REDIS_URL" \
        --database-url "$DB" >"$OUT/logs/$kind-$port.log" 2>&1 &
    fi
    spids+=($!)
    pids+=($!)
    wait_http "$port"
  done
}
stop_pair() {
  for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

run() { # label scenario extra...
  local label=$1 sc=$2
  shift 2
  timeout 900 nice -n "$NICE" taskset -c "$LCPU" "$BIN/loadgen" -addr "127.0.0.1:$P1" \
    -receiver-addrs "127.0.0.1:$P1,127.0.0.1:$P2" -scenario "$sc" -label "$label" "$@" \
    >"$OUT/$label-$sc.txt" 2>&1 || true
  grep -E "max sustained|acked msgs/s|FAIL" "$OUT/$label-$sc.txt" | tail -3 || true
}

for kind in parley node; do
  echo "== $kind x2 on Redis + PostgreSQL"
  reset_db
  start_pair "$kind"
  run "$kind-x2" chat -receivers "$RECEIVERS" -senders "$SENDERS" -rates "$RATES" -step "$STEP"
  run "$kind-x2" persist -rooms 100 -room-senders 10 -receivers 1000 -duration "$PERSIST_DUR"
  stop_pair
done
echo "results in $OUT"
