#!/usr/bin/env bash
# Local ClickHouse servers for development and CI (no systemd, no ZooKeeper).
#
#   scripts/clickhouse.sh start-single   # one server:  http://127.0.0.1:8123  (tcp 9000)
#   scripts/clickhouse.sh start-cluster  # two shards:  http://127.0.0.1:8124, :8125 (tcp 9001, 9002), cluster rakuten_test
#   scripts/clickhouse.sh start          # both
#   scripts/clickhouse.sh stop           # stop every server this script started
#   scripts/clickhouse.sh status
#
# Idempotent: installs Debian's clickhouse-server/clickhouse-client only when missing and leaves
# an already answering server alone. Each server gets its own generated config and data dir
# under $RAKUTEN_CH_ROOT (default /dev/shm/rakuten-ch/<name>, or /tmp/rakuten-ch/<name>). Users: `default` (no password) and
# `rakuten` (password `rakuten-test`), both from 127.0.0.1 only.
set -euo pipefail
# clickhouse-server lives in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

# Test servers hold throwaway data: on tmpfs when there is one. On this kind of VM every part
# ClickHouse writes is dozens of small files, and the disk's metadata latency made the test suite
# 3-4x slower than on /dev/shm. Set RAKUTEN_CH_ROOT for data that should survive a reboot.
if [ -z "${RAKUTEN_CH_ROOT:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  ROOT=/dev/shm/rakuten-ch
else
  ROOT="${RAKUTEN_CH_ROOT:-/tmp/rakuten-ch}"
fi
CLUSTER=rakuten_test
# name http tcp interserver
SINGLE=(single 8123 9000 9009)
SHARD1=(shard1 8124 9001 9010)
SHARD2=(shard2 8125 9002 9011)

log() { echo "clickhouse.sh: $*" >&2; }

install_packages() {
  if command -v clickhouse-server >/dev/null 2>&1 && command -v clickhouse-client >/dev/null 2>&1; then return 0; fi
  log "installing clickhouse-server and clickhouse-client (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The package's postinst may try to start the service: harmless without systemd.
  apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
}

ping_http() { # port
  local out
  out="$(curl -sS --max-time 2 "http://127.0.0.1:$1/?query=SELECT%201" 2>/dev/null || true)"
  [ "$out" = "1" ]
}

write_config() { # name http tcp interserver
  local name=$1 http=$2 tcp=$3 inter=$4 dir="$ROOT/$1"
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/log" "$dir/format_schemas"
  cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <load_balancing>in_order</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <rakuten>
      <password>rakuten-test</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </rakuten>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$dir/log/server.log</log>
    <errorlog>$dir/log/server.err.log</errorlog>
    <size>50M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http</http_port>
  <tcp_port>$tcp</tcp_port>
  <interserver_http_port>$inter</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <max_connections>1024</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <remote_servers>
    <$CLUSTER>
      <shard><replica><host>127.0.0.1</host><port>${SHARD1[2]}</port></replica></shard>
      <shard><replica><host>127.0.0.1</host><port>${SHARD2[2]}</port></replica></shard>
    </$CLUSTER>
  </remote_servers>
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
  <max_session_timeout>3600</max_session_timeout>
  <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
}

start_one() { # name http tcp interserver
  local name=$1 http=$2 dir="$ROOT/$1"
  if ping_http "$http"; then
    log "$name already answers on port $http"
    return 0
  fi
  write_config "$@"
  rm -f "$dir/server.pid"
  # --daemon forks and writes the pid file; stdout/stderr go to the log dir.
  clickhouse-server --config-file="$dir/config.xml" --pid-file="$dir/server.pid" --daemon \
    >>"$dir/log/stdout.log" 2>&1 || true
}

wait_ready() { # name http
  local name=$1 http=$2 i
  for i in $(seq 1 120); do
    if ping_http "$http"; then return 0; fi
    sleep 0.5
  done
  log "$name did not answer on port $http within 60 s; last log lines:"
  tail -n 20 "$ROOT/$name/log/server.err.log" >&2 2>/dev/null || true
  tail -n 20 "$ROOT/$name/log/stdout.log" >&2 2>/dev/null || true
  return 1
}

stop_all() { # names…: signal every server first, then wait, so they shut down in parallel
  local name dir pid i pids=()
  for name in "$@"; do
    dir="$ROOT/$name"
    [ -f "$dir/server.pid" ] || continue
    pid="$(cat "$dir/server.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      pids+=("$name:$pid")
    fi
    rm -f "$dir/server.pid"
  done
  for entry in "${pids[@]}"; do
    pid="${entry#*:}"
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    log "stopped ${entry%%:*} (pid $pid)"
  done
}

command -v curl >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null; }

case "${1:-}" in
  start-single)
    install_packages
    start_one "${SINGLE[@]}"
    wait_ready "${SINGLE[0]}" "${SINGLE[1]}"
    echo "RAKUTEN_TEST_CLICKHOUSE=http://127.0.0.1:${SINGLE[1]}"
    ;;
  start-cluster)
    install_packages
    start_one "${SHARD1[@]}"
    start_one "${SHARD2[@]}"
    wait_ready "${SHARD1[0]}" "${SHARD1[1]}"
    wait_ready "${SHARD2[0]}" "${SHARD2[1]}"
    echo "RAKUTEN_TEST_CLICKHOUSE_CLUSTER=http://127.0.0.1:${SHARD1[1]} (cluster $CLUSTER: shards http://127.0.0.1:${SHARD1[1]}, http://127.0.0.1:${SHARD2[1]})"
    ;;
  start)
    bash "$0" start-single
    bash "$0" start-cluster
    ;;
  stop)
    stop_all "${SINGLE[0]}" "${SHARD1[0]}" "${SHARD2[0]}"
    ;;
  status)
    for s in "${SINGLE[0]}:${SINGLE[1]}" "${SHARD1[0]}:${SHARD1[1]}" "${SHARD2[0]}:${SHARD2[1]}"; do
      if ping_http "${s#*:}"; then echo "${s%%:*} up http://127.0.0.1:${s#*:}"; else echo "${s%%:*} down"; fi
    done
    ;;
  *)
    echo "usage: $0 start-single|start-cluster|start|stop|status" >&2
    exit 2
    ;;
esac
