#!/usr/bin/env bash
# Start the local brokers the test suite talks to, when they are not already answering.
# Redis 6379, PostgreSQL 5432, MariaDB 3306, RabbitMQ 5672, MongoDB 27017 (a test server:
# scripts/ensure-mongodb.sh). Safe to run again and again.
# The test session checks them too, and fails naming the one that does not answer.
# Also installs Debian's chromium, which the dashboard's browser tests drive (Playwright's
# own browser downloads are never used); when it cannot, this fails and so does CI.
set -uo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
    local name=$1 port=$2 seconds=${3:-30}
    for _ in $(seq 1 $((seconds * 2))); do
        answers "$port" && return 0
        sleep 0.5
    done
    echo "ensure-services: $name did not come up on port $port within ${seconds}s" >&2
    return 1
}

status=0
if ! answers 6379; then
    echo "ensure-services: starting redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    wait_for redis 6379 || status=1
fi
if ! answers 5432; then
    echo "ensure-services: starting postgresql"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    wait_for postgresql 5432 || status=1
fi
if ! answers 3306; then
    echo "ensure-services: starting mariadb"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for mariadb 3306 || status=1
fi
# RabbitMQ can keep its port open while it no longer answers (seen under hundreds of
# quorum queues): an AMQP greeting must come back, else the broker is restarted
amqp_greets() {
    timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672 && printf "AMQP\x00\x00\x09\x01" >&3 &&
        head -c 1 <&3 | od -An -tx1 | grep -q 01' 2>/dev/null
}
wait_for_amqp() {
    for _ in $(seq 1 60); do
        amqp_greets && return 0
        sleep 1
    done
    echo "ensure-services: rabbitmq did not answer AMQP within 60s" >&2
    return 1
}
if answers 5672 && ! amqp_greets; then
    echo "ensure-services: rabbitmq holds its port but does not answer: restarting it"
    pkill -9 -f beam.smp
    sleep 1
fi
if ! answers 5672; then
    # one node only: a second rabbitmq-server on the same node name hangs both
    if pgrep -f beam.smp >/dev/null; then
        echo "ensure-services: waiting for the rabbitmq node that is starting"
        wait_for_amqp || { pkill -9 -f beam.smp; sleep 1; }
    fi
fi
if ! answers 5672; then
    # the Erlang VM boots for several seconds before the AMQP port opens
    echo "ensure-services: starting rabbitmq"
    rabbitmq-server -detached
    wait_for rabbitmq 5672 60 || status=1
fi
if answers 5672; then
    wait_for_amqp || status=1
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "ensure-services: installing chromium (the dashboard's browser tests)"
    if command -v apt-get >/dev/null 2>&1; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
            >/dev/null || true
    fi
    if ! command -v chromium >/dev/null 2>&1; then
        echo "ensure-services: chromium is missing and could not be installed:" \
            "run 'apt-get install -y chromium' (tests/dashboard need it)" >&2
        status=1
    fi
fi
bash "$(dirname "$0")/ensure-mongodb.sh" || status=1
exit $status
