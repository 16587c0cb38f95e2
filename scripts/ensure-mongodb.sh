#!/usr/bin/env bash
# Start the MongoDB-compatible test server when nothing answers on 127.0.0.1:27017.
#
# No MongoDB server can be installed on the test machines, so the tests run against
# SecantusDB (PyPI SecantusDB, GPL-2.0), a MongoDB-wire-compatible server written in
# Python that presents itself as a one-node replica set (transactions and change
# streams work). It is a test-only tool, never a dependency of asynctasq: it lives in
# its own virtualenv, created here from pip on first use.
#
#   ASYNCTASQ_TOOLS_DIR     where the tools virtualenv lives (default ~/.cache/asynctasq-tools)
#   ASYNCTASQ_MONGODB_PORT  the port (default 27017)
#
# The server keeps its data in memory and writes its PID to $PIDFILE, so the caller
# (.ci/run) stops it by that PID. Safe to run again and again.
set -uo pipefail

SECANTUS_VERSION=0.7.0b3
TOOLS=${ASYNCTASQ_TOOLS_DIR:-$HOME/.cache/asynctasq-tools}
VENV=$TOOLS/secantus-venv
PIDFILE=${ASYNCTASQ_MONGODB_PIDFILE:-${TMPDIR:-/tmp}/asynctasq-secantusd.pid}
PORT=${ASYNCTASQ_MONGODB_PORT:-27017}
LOG=${TMPDIR:-/tmp}/asynctasq-secantusd.$PORT.log

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# a server that accepts connections but no longer answers a ping in 10 s (the in-memory
# test server, after hours of test data) is restarted, if it is the one this script
# started (its PID in the default pidfile); someone else's server is left alone
pings() {
    [ -x "$VENV/bin/python" ] || return 0
    timeout 20 "$VENV/bin/python" -c "import pymongo; pymongo.MongoClient('mongodb://127.0.0.1:$PORT', serverSelectionTimeoutMS=10000, directConnection=True).admin.command('ping')" \
        >/dev/null 2>&1
}
OURS=${TMPDIR:-/tmp}/asynctasq-secantusd.pid
if answers; then
    pings && exit 0
    if [ -s "$OURS" ] && ps -p "$(cat "$OURS")" -o args= 2>/dev/null | grep -q secantusd; then
        echo "ensure-mongodb: the test server on port $PORT does not answer a ping; restarting it"
        kill "$(cat "$OURS")" 2>/dev/null
        for _ in $(seq 1 20); do answers || break; sleep 0.5; done
    else
        echo "ensure-mongodb: something on port $PORT accepts connections but does not answer a ping" >&2
        exit 1
    fi
fi

if [ ! -x "$VENV/bin/secantusd-py" ]; then
    echo "ensure-mongodb: installing SecantusDB $SECANTUS_VERSION into $VENV (test tool)"
    mkdir -p "$TOOLS"
    python3 -m venv "$VENV" || exit 1
    "$VENV/bin/pip" install --quiet "SecantusDB==$SECANTUS_VERSION" || exit 1
fi

echo "ensure-mongodb: starting secantusd-py (in memory) on 127.0.0.1:$PORT"
# setsid: the server outlives this script, but not a CI run (stopped by its PID)
setsid "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$PORT" --storage-path :memory: \
    --log-level WARNING >"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

for _ in $(seq 1 60); do
    answers && exit 0
    sleep 0.5
done
echo "ensure-mongodb: secantusd-py did not come up on port $PORT within 30s (see $LOG)" >&2
exit 1
