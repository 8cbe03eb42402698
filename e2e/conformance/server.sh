#!/bin/sh
# The command e2e/protocol's harness starts (as $PARLEY_TESTSERVER, set by
# server.ts), with `--addr host:port`: the real binary's conformance profile
# when $PARLEY_BIN is set, else the Node twin.
if [ -n "${PARLEY_BIN:-}" ]; then
  exec "$PARLEY_BIN" conformance "$@"
fi
exec "${CONFORMANCE_NODE:-node}" "$(dirname "$0")/twin.mjs" "$@"
