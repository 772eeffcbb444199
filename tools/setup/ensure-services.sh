#!/usr/bin/env bash
# Make the servers a local run or the tests need answer on this machine: RabbitMQ and/or
# PostgreSQL. For each one asked for whose address is local (127.0.0.1, localhost, ::1):
#
#   answering already        nothing happens, nothing is printed;
#   installed, not running   it is started (rabbitmq-server -detached; pg_ctlcluster ... start);
#   not installed            it is installed from Debian's packages (apt-get, as root or
#                            through sudo) and then started.
#
# Then it waits until the port answers. A remote address is left alone (the program that
# uses it reports when it does not answer).
#
#   tools/setup/ensure-services.sh [--dry-run] [--amqp-url URL] [--postgres-url URL] \
#                                  rabbitmq|postgresql ...
#
# --amqp-url / --postgres-url: the addresses to check (empty: the local defaults,
#   amqp://guest:guest@127.0.0.1:5672/ and postgresql://postgres@127.0.0.1:5432/postgres).
# --dry-run: change nothing; print every command that would change the system, one per line,
#   prefixed "would run: " (tests/test_ensure_services.py uses it).
# CK_SETUP_SBIN: folders added to PATH to find the servers' commands (default
#   /usr/local/sbin:/usr/sbin:/sbin, where Debian puts rabbitmq-server); tests set it empty.
#
# A PostgreSQL installed here gets trust authentication on 127.0.0.1 and ::1 (the tests connect
# as postgres without a password); an existing installation's pg_hba.conf is never touched.
set -euo pipefail

PATH="$PATH:${CK_SETUP_SBIN-/usr/local/sbin:/usr/sbin:/sbin}"
export DEBIAN_FRONTEND=noninteractive

dry_run=false
amqp_url=""
postgres_url=""
wanted=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=true ;;
    --amqp-url) amqp_url="${2-}"; shift ;;
    --postgres-url) postgres_url="${2-}"; shift ;;
    rabbitmq | postgresql) wanted+=("$1") ;;
    *) echo "ensure-services: unknown argument '$1'" >&2; exit 64 ;;
  esac
  shift
done
amqp_url="${amqp_url:-amqp://guest:guest@127.0.0.1:5672/}"
postgres_url="${postgres_url:-postgresql://postgres@127.0.0.1:5432/postgres}"

say() { echo "ensure-services: $*" >&2; }

# host and port of a URL (scheme://[user[:password]@]host[:port][/...]); IPv6 in brackets.
url_host() {
  local rest=${1#*://}
  rest=${rest%%/*}
  rest=${rest##*@}
  if [[ $rest == \[* ]]; then rest=${rest#[}; echo "${rest%%]*}"; else echo "${rest%%:*}"; fi
}
url_port() {  # url, default port
  local rest=${1#*://}
  rest=${rest%%/*}
  rest=${rest##*@}
  rest=${rest##*]}
  if [[ $rest == *:* ]]; then echo "${rest##*:}"; else echo "$2"; fi
}
is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 || -z $1 ]]; }

port_open() {  # host, port
  local host=$1
  [ -n "$host" ] && [ "$host" != localhost ] || host=127.0.0.1
  timeout 2 bash -c "exec 3<>/dev/tcp/$host/$2" 2>/dev/null
}

wait_for_port() {  # host, port, name, seconds
  $dry_run && return 0
  for _ in $(seq "$4"); do
    port_open "$1" "$2" && return 0
    sleep 1
  done
  say "$3 did not start listening on port $2 within $4 s"
  return 1
}

# As root: nothing; otherwise sudo (asks for the password on a terminal).
as_root=()
root_prefix() {
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    say "installing and starting $1 needs root: run this as root or install sudo"
    exit 1
  fi
}

run() {  # the command, printed instead of run in a dry run
  if $dry_run; then
    echo "would run: $*"
  else
    "$@"
  fi
}

apt_updated=false
apt_install() {
  say "installing $* (apt-get)"
  if ! $apt_updated; then
    run "${as_root[@]}" apt-get update -qq </dev/null
    apt_updated=true
  fi
  run "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

ensure_rabbitmq() {
  local host port
  host=$(url_host "$amqp_url")
  port=$(url_port "$amqp_url" 5672)
  is_local "$host" || return 0
  port_open "$host" "$port" && return 0
  root_prefix RabbitMQ
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    apt_install rabbitmq-server
    # On a machine with systemd the package starts the server itself.
    if ! $dry_run && port_open "$host" "$port"; then return 0; fi
  fi
  say "starting RabbitMQ"
  run "${as_root[@]}" rabbitmq-server -detached </dev/null
  wait_for_port "$host" "$port" RabbitMQ 180
  run "${as_root[@]}" rabbitmqctl -q await_startup --timeout 120 </dev/null
}

newest_cluster_version() {
  ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

ensure_postgresql() {
  local host port version installed_here=false
  host=$(url_host "$postgres_url")
  port=$(url_port "$postgres_url" 5432)
  is_local "$host" || return 0
  port_open "$host" "$port" && return 0
  root_prefix PostgreSQL
  version=$(newest_cluster_version)
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$version" ]; then
    apt_install postgresql
    installed_here=true
    version=$(newest_cluster_version)
    $dry_run && version=${version:-VERSION}
  fi
  if $installed_here; then
    say "PostgreSQL $version: trust authentication for postgres on 127.0.0.1 and ::1"
    run "${as_root[@]}" sed -i -E \
      's/^(host[[:space:]]+all[[:space:]]+all[[:space:]]+(127\.0\.0\.1\/32|::1\/128)[[:space:]]+)[^[:space:]]+/\1trust/' \
      "/etc/postgresql/$version/main/pg_hba.conf"
    if ! $dry_run && port_open "$host" "$port"; then  # the package started it (systemd)
      run "${as_root[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main reload </dev/null
      return 0
    fi
  fi
  say "starting PostgreSQL $version"
  run "${as_root[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start </dev/null
  wait_for_port "$host" "$port" PostgreSQL 60
}

for service in "${wanted[@]}"; do
  "ensure_$service"
done
