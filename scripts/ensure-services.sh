#!/usr/bin/env bash
# Start the local brokers the test suite talks to, when they are not already answering.
# Redis 6379, PostgreSQL 5432, MariaDB 3306. Safe to run again and again.
set -uo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
    local name=$1 port=$2
    for _ in $(seq 1 60); do
        answers "$port" && return 0
        sleep 0.5
    done
    echo "ensure-services: $name did not come up on port $port" >&2
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
exit $status
