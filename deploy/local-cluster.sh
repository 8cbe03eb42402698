#!/usr/bin/env bash
# Starts a Parley cluster on this machine, on loopback only, from Debian's
# packages (redis-server, postgresql, haproxy): one redis-server and one
# PostgreSQL server, each on a unix socket in a temporary directory; three
# Parley nodes on free ports, sharing both (--redis-url, --database-url);
# HAProxy in front of them with deploy/haproxy.cfg. It prints the URL to
# open, and on Ctrl-C (or SIGTERM) it stops everything and deletes the
# directory: nothing is left behind.
#
#   deploy/local-cluster.sh                  # builds bin/parley if missing
#   PORT=8080 deploy/local-cluster.sh        # HAProxy's port (default: a free one)
#   PARLEY_LB_MODE=sticky deploy/local-cluster.sh   # the optional cookie
#
# Extra arguments are passed to every node, e.g. --presence-grace 2s.
# Environment: PARLEY_BIN (default <repo>/bin/parley), PORT, PARLEY_LB_MODE
# (sticky or roundrobin, see deploy/haproxy.cfg), HAPROXY (default
# /usr/sbin/haproxy). Run as root, PostgreSQL runs as the postgres user
# (it refuses root), as in .ci/with-postgres.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${PARLEY_BIN:-$repo/bin/parley}
haproxy=${HAPROXY:-/usr/sbin/haproxy}
nodes=3

die() { echo "local-cluster: $*" >&2; exit 1; }

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$pgbin" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
[ -x "$haproxy" ] || die "$haproxy is missing (apt-get install haproxy)"
if [ ! -x "$bin" ]; then
  echo "building $bin"
  (cd "$repo" && go build -o "$bin" ./cmd/parley)
fi

dir=$(mktemp -d /tmp/parley-cluster-XXXXXX)
pids=()
pg_as=()
pg_started=

stop() {
  trap - EXIT INT TERM
  echo
  echo "stopping the cluster"
  # The processes this script started, by their ids, HAProxy first so
  # that no new connection reaches a stopping node.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$pg_started" ]; then
    "${pg_as[@]}" "$pgbin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# waitfor FILE REGEX: prints the first match of REGEX in FILE (a log),
# waiting up to 20 s for it.
waitfor() {
  local file=$1 re=$2 i m
  for ((i = 0; i < 200; i++)); do
    m=$(grep -Eo "$re" "$file" 2>/dev/null | head -n 1 || true)
    if [ -n "$m" ]; then
      echo "$m"
      return 0
    fi
    sleep 0.1 # polling interval of a readiness probe
  done
  echo "local-cluster: timed out waiting for /$re/ in $file:" >&2
  cat "$file" >&2
  return 1
}

# freeport: a loopback port nothing listens on (probed by connecting).
freeport() {
  local p
  for ((;;)); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

# redis-server on a unix socket only (--port 0: no TCP), no persistence.
redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
  --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
pids+=($!)
waitfor "$dir/redis.log" '[Rr]eady to accept connections' >/dev/null
redis_url="unix://$dir/redis.sock"

# PostgreSQL on a unix socket in its directory only (no TCP).
mkdir "$dir/pg"
if [ "$(id -u)" = 0 ]; then
  chmod 711 "$dir" # the postgres user passes through to its own directory
  chown postgres: "$dir/pg"
  pg_as=(runuser -u postgres --)
fi
"${pg_as[@]}" "$pgbin/initdb" -D "$dir/pg/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
cat >>"$dir/pg/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/pg'
max_connections = 100
CONF
"${pg_as[@]}" "$pgbin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w -t 60 start >/dev/null
pg_started=1
database_url="postgres://postgres@/postgres?host=$dir/pg&sslmode=disable"

# The nodes, each on a free port the kernel picks (--addr 127.0.0.1:0),
# read back from its "parley listening" line.
addrs=()
for ((n = 1; n <= nodes; n++)); do
  mkdir "$dir/node$n"
  "$bin" --addr 127.0.0.1:0 --data-dir "$dir/node$n" \
    --redis-url "$redis_url" --database-url "$database_url" "$@" \
    >"$dir/node$n.log" 2>&1 &
  pids+=($!)
  addr=$(waitfor "$dir/node$n.log" 'parley listening"? addr=[0-9.]+:[0-9]+')
  addrs+=("${addr##*=}")
done

port=${PORT:-$(freeport)}
PARLEY_LB_BIND="127.0.0.1:$port" PARLEY_LB_MODE="${PARLEY_LB_MODE:-roundrobin}" \
  PARLEY_NODE1="${addrs[0]}" PARLEY_NODE2="${addrs[1]}" PARLEY_NODE3="${addrs[2]}" \
  "$haproxy" -db -f "$repo/deploy/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
pids+=($!)
url="http://127.0.0.1:$port"
ready=
for ((i = 0; i < 100; i++)); do
  if curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; then ready=1; break; fi
  kill -0 "${pids[-1]}" 2>/dev/null || break
  sleep 0.1 # polling interval of a readiness probe
done
[ -n "$ready" ] || { cat "$dir/haproxy.log" >&2; die "HAProxy did not answer on $url"; }

cat <<EOF
Parley cluster on loopback (HAProxy ${PARLEY_LB_MODE:-roundrobin}, three nodes, Redis, PostgreSQL):

  open  $url/
  nodes ${addrs[*]}
  logs  $dir/{node1,node2,node3,haproxy,redis}.log

Ctrl-C stops everything and deletes $dir.
EOF

# Runs until interrupted, or until one of the processes ends by itself.
wait -n "${pids[@]}" || true
echo "local-cluster: a process ended by itself; see its log:" >&2
for ((n = 1; n <= nodes; n++)); do tail -n 5 "$dir/node$n.log" >&2; done
tail -n 5 "$dir/haproxy.log" >&2
exit 1
