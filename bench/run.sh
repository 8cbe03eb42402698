#!/usr/bin/env bash
# Side-by-side benchmark: Parley (bench/fanout-server) vs Node socket.io 4.8
# (bench/node) vs zishang520 socket.io for Go (bench/zishang), and, on request,
# the bench contract on plain Go websocket libraries (bench/wslib).
# Each server runs pinned to one CPU, the load generator to the other; every
# server is restarted for every scenario. See bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

usage() {
  cat <<'USAGE'
usage: bench/run.sh [options]
  --quick                 ~1-2 minute smoke run with small numbers
  --servers LIST          comma list of parley,node,zishang (default: all that exist)
                          and wslib-gorilla,wslib-coder,wslib-gobwas (only when
                          named; see bench/wslib/README.md)
  --scenarios LIST        comma list of fanout,latency,idle,echo,chat,persist
                          (default: all)
  --receivers N           fanout/latency/chat receivers (default 1000; quick 200)
  --rates LIST            fanout/chat msg/s steps (default 5,10,...,1280)
  --step DUR              fanout/chat step length (default 10s; quick 2s)
  --idle-conns N          idle connections (default 10000; quick 2000; max 19000)
  --no-calib              skip the noise calibration (Node measured twice)
  --all-steps             fanout/chat: run every rate even after a failed step, no
                          refinement (server CPU and latency at fixed rates)
  --out DIR               results directory (default bench/results/<timestamp>,
                          plus -polling with --transport polling)
  --server-cpu N          CPU for the server (default 0)
  --loadgen-cpu N         CPU for the load generator (default 1)
  --transport T           websocket (default) or polling: how the load generator's
                          clients talk to the servers (polling: Engine.IO HTTP
                          long-polling, see bench/POLLING.md; idle conns default
                          5000, max 9000)
  --nice N                run server and load generator at this nice value
                          (default 0; negative values favour the benchmark
                          over other work on the machine)
env:
  PARLEY_CHAT_CMD         command serving Parley's real /chat for the chat and
                          persist scenarios; {ADDR} and {PORT} are substituted,
                          e.g. 'bench/bin/parley --addr {ADDR}'. Unset: Parley is
                          skipped for those scenarios.
  PARLEY_FANOUT_CMD       command serving the bench contract for Parley instead of
                          bench/bin/fanout-server (e.g. a binary built from another
                          commit, to compare before and after); {ADDR}, {PORT} as above.
USAGE
}

QUICK=0
SERVERS=""
SCENARIOS="fanout,latency,idle,echo,chat,persist"
RECEIVERS=""
RATES=""
STEP=""
IDLE_CONNS=""
CALIB=1
ALL_STEPS=0
OUT=""
SCPU=0
LCPU=1
NICE=0
TRANSPORT=websocket
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --servers) SERVERS="$2"; shift ;;
    --scenarios) SCENARIOS="$2"; shift ;;
    --receivers) RECEIVERS="$2"; shift ;;
    --rates) RATES="$2"; shift ;;
    --step) STEP="$2"; shift ;;
    --idle-conns) IDLE_CONNS="$2"; shift ;;
    --no-calib) CALIB=0 ;;
    --all-steps) ALL_STEPS=1 ;;
    --out) OUT="$2"; shift ;;
    --server-cpu) SCPU="$2"; shift ;;
    --loadgen-cpu) LCPU="$2"; shift ;;
    --nice) NICE="$2"; shift ;;
    --transport) TRANSPORT="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

case "$TRANSPORT" in
  websocket) ;;
  # A polling client holds up to 2 connections (GET + POST).
  polling) if [[ $QUICK == 0 ]]; then IDLE_CONNS=${IDLE_CONNS:-5000}; fi ;;
  *) echo "--transport must be websocket or polling" >&2; exit 2 ;;
esac
if [[ $QUICK == 1 ]]; then
  RECEIVERS=${RECEIVERS:-200}
  RATES=${RATES:-20,80,320,1280}
  STEP=${STEP:-2s}
  IDLE_CONNS=${IDLE_CONNS:-2000}
  SENDERS=5; CHAT_SENDERS=10; CHAT_RATES=${RATES}; REFINE=0
  LAT_DUR=4s; IDLE_HOLD=2s; ECHO_CONNS=50; ECHO_DUR=3s
  ROOMS=10; ROOM_SENDERS=5; PERSIST_DUR=3s
else
  RECEIVERS=${RECEIVERS:-1000}
  RATES=${RATES:-5,10,20,40,80,160,320,640,1280}
  STEP=${STEP:-10s}
  IDLE_CONNS=${IDLE_CONNS:-10000}
  SENDERS=10; CHAT_SENDERS=50; CHAT_RATES=${RATES}; REFINE=2
  LAT_DUR=20s; IDLE_HOLD=10s; ECHO_CONNS=100; ECHO_DUR=10s
  ROOMS=100; ROOM_SENDERS=10; PERSIST_DUR=10s
fi
if (( IDLE_CONNS > 19000 )); then
  echo "--idle-conns is capped at 19000 (one process may hold 20000 files)" >&2
  exit 2
fi
if [[ $TRANSPORT == polling ]] && (( IDLE_CONNS > 9000 )); then
  echo "--idle-conns is capped at 9000 with --transport polling (2 connections per client)" >&2
  exit 2
fi

STEPS_ARG=""
[[ $ALL_STEPS == 1 ]] && STEPS_ARG=" -all-steps"
OUT=${OUT:-bench/results/$(date +%Y%m%d-%H%M%S)$([[ $TRANSPORT == websocket ]] || echo "-$TRANSPORT")}
mkdir -p "$OUT/logs" "$OUT/tmp"
BIN=bench/bin
mkdir -p "$BIN"

echo "== building"
go build -o "$BIN/loadgen" ./bench/loadgen
HAVE_PARLEY=0
if [[ -d bench/fanout-server ]] && go build -o "$BIN/fanout-server" ./bench/fanout-server; then
  HAVE_PARLEY=1
else
  echo "   (no buildable bench/fanout-server: Parley skipped)"
fi
HAVE_ZISHANG=0
if (cd bench/zishang && go build -o ../bin/zishang .); then
  HAVE_ZISHANG=1
else
  echo "   (bench/zishang did not build: zishang skipped)"
fi
HAVE_WSLIB=0
if (cd bench/wslib && go build -o ../bin/wslib . && go build -o ../bin/wslib-report ./report); then
  HAVE_WSLIB=1
else
  echo "   (bench/wslib did not build: wslib-* skipped)"
fi
HAVE_NODE=0
# bench/node is its own npm project (kept out of the root workspaces so that
# CI never compiles better-sqlite3); install it on first use.
if [[ ! -f bench/node/node_modules/socket.io/package.json ]]; then
  (cd bench/node && npm ci --no-audit --no-fund >/dev/null) || echo "   (npm ci in bench/node failed)"
fi
if [[ -f bench/node/node_modules/socket.io/package.json ]]; then
  HAVE_NODE=1
else
  echo "   (socket.io not installed in bench/node; Node skipped)"
fi

if [[ -z $SERVERS ]]; then
  SERVERS=""
  [[ $HAVE_PARLEY == 1 ]] && SERVERS+="parley,"
  [[ $HAVE_NODE == 1 ]] && SERVERS+="node,"
  [[ $HAVE_ZISHANG == 1 ]] && SERVERS+="zishang,"
  SERVERS=${SERVERS%,}
fi

port_of() {
  case "$1" in
    parley) echo 3201 ;; node) echo 3202 ;; zishang) echo 3203 ;;
    wslib-gorilla) echo 3205 ;; wslib-coder) echo 3206 ;; wslib-gobwas) echo 3207 ;;
  esac
}

# server_cmd SERVER SCENARIO PORT -> prints the command, or nothing to skip.
server_cmd() {
  local s=$1 sc=$2 port=$3 addr="127.0.0.1:$3"
  case "$sc" in
    chat|persist)
      case "$s" in
        node) echo "node bench/node/chat.mjs --port $port --db $OUT/tmp/node-chat-$sc.db" ;;
        parley)
          if [[ -n ${PARLEY_CHAT_CMD:-} ]]; then
            local c=${PARLEY_CHAT_CMD//\{ADDR\}/$addr}
            echo "${c//\{PORT\}/$port}"
          fi ;;
      esac ;;
    *)
      case "$s" in
        parley)
          if [[ -n ${PARLEY_FANOUT_CMD:-} ]]; then
            local c=${PARLEY_FANOUT_CMD//\{ADDR\}/$addr}
            echo "${c//\{PORT\}/$port}"
          elif [[ $HAVE_PARLEY == 1 ]]; then
            echo "$BIN/fanout-server --addr $addr"
          fi ;;
        node) echo "node bench/node/fanout.mjs --port $port" ;;
        zishang) [[ $HAVE_ZISHANG == 1 ]] && echo "$BIN/zishang --addr $addr" ;;
        wslib-*) [[ $HAVE_WSLIB == 1 ]] && echo "$BIN/wslib --addr $addr --lib ${s#wslib-}" ;;
      esac ;;
  esac
  return 0
}

loadgen_args() {
  case "$1" in
    fanout) echo "-receivers $RECEIVERS -senders $SENDERS -rates $RATES -step $STEP -refine $REFINE$STEPS_ARG" ;;
    latency) echo "-receivers $RECEIVERS -senders $SENDERS -rate 40 -duration $LAT_DUR" ;;
    idle) echo "-conns $IDLE_CONNS -duration $IDLE_HOLD" ;;
    echo) echo "-conns $ECHO_CONNS -duration $ECHO_DUR" ;;
    chat) echo "-receivers $RECEIVERS -senders $CHAT_SENDERS -rates $CHAT_RATES -step $STEP -refine $REFINE$STEPS_ARG" ;;
    persist) echo "-rooms $ROOMS -room-senders $ROOM_SENDERS -duration $PERSIST_DUR" ;;
  esac
}

SPID=""
stop_server() {
  if [[ -n $SPID ]] && kill -0 "$SPID" 2>/dev/null; then
    kill -TERM "$SPID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SPID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
  fi
  SPID=""
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# start_server NAME CMD PORT LOG: starts CMD pinned to the server CPU and
# waits until the port answers HTTP.
start_server() {
  local name=$1 cmd=$2 port=$3 log=$4
  # shellcheck disable=SC2086 # the command is word-split on purpose
  nice -n "$NICE" taskset -c "$SCPU" $cmd >"$log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 100); do
    local code
    code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$port/socket.io/?EIO=4&transport=polling" || true)
    if [[ $code != 000 && -n $code ]]; then
      return 0
    fi
    if ! kill -0 "$SPID" 2>/dev/null; then
      echo "   $name exited at start; log:" >&2
      tail -5 "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "   $name did not answer on port $port" >&2
  return 1
}

# measure FILE SERVER SCENARIO CMD PORT: one server start + one loadgen run,
# saved as $OUT/FILE.txt (full output) and $OUT/FILE.json (the RESULT line).
measure() {
  local file=$1 server=$2 sc=$3 cmd=$4 port=$5
  echo "== $file: $sc on $server ($cmd)"
  rm -f "$OUT/tmp/"*.db*
  if ! start_server "$server" "$cmd" "$port" "$OUT/logs/$file.server.log"; then
    stop_server
    return 0
  fi
  # shellcheck disable=SC2046 # args are word-split on purpose
  timeout 900 nice -n "$NICE" taskset -c "$LCPU" "$BIN/loadgen" -addr "127.0.0.1:$port" -scenario "$sc" \
    -label "$server" -server-pid "$SPID" -transport "$TRANSPORT" $(loadgen_args "$sc") 2>&1 |
    tee "$OUT/$file.txt" | sed 's/^RESULT .*/(RESULT saved)/; s/^/   /' || true
  grep '^RESULT ' "$OUT/$file.txt" | sed 's/^RESULT //' >"$OUT/$file.json" || rm -f "$OUT/$file.json"
  stop_server
}

echo "== results in $OUT (servers: $SERVERS; scenarios: $SCENARIOS; transport: $TRANSPORT)"
{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "go: $(go version)"
  echo "node: $(node --version 2>/dev/null || echo none)"
  echo "quick: $QUICK; receivers $RECEIVERS; rates $RATES; step $STEP; idle conns $IDLE_CONNS"
  echo "server cpu $SCPU; loadgen cpu $LCPU; nice $NICE"
  echo "transport: $TRANSPORT"
  echo "cpu pressure at start: $(head -1 /proc/pressure/cpu 2>/dev/null || echo n/a)"
} >"$OUT/env.txt"

IFS=, read -r -a SC_LIST <<<"$SCENARIOS"
IFS=, read -r -a SV_LIST <<<"$SERVERS"
for sc in "${SC_LIST[@]}"; do
  for s in "${SV_LIST[@]}"; do
    port=$(port_of "$s")
    cmd=$(server_cmd "$s" "$sc" "$port")
    if [[ -z $cmd ]]; then
      echo "== $s: $sc skipped (no server for this scenario)"
      continue
    fi
    measure "$s-$sc" "$s" "$sc" "$cmd" "$port"
  done
done

if [[ $CALIB == 1 && $HAVE_NODE == 1 ]]; then
  for sc in echo latency; do
    for i in 1 2; do
      measure "calib-$sc-$i" node "$sc" "node bench/node/fanout.mjs --port 3204" 3204
    done
  done
fi

# loadgen's report knows parley, node and zishang; bench/wslib's report adds
# the wslib-* servers.
REPORT_RC=0
"$BIN/loadgen" -report "$OUT" | tee "$OUT/report.txt" || REPORT_RC=$?
if [[ $HAVE_WSLIB == 1 && ,$SERVERS, == *,wslib-* ]]; then
  "$BIN/wslib-report" "$OUT" | tee -a "$OUT/report.txt" && REPORT_RC=0
fi
exit "$REPORT_RC"
