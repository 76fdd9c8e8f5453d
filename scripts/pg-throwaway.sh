#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the cluster tests and bench: `start DIR PORT` makes one in
# DIR (trust auth, 127.0.0.1 only, no fsync), starts it and prints its URL; `stop DIR` stops it
# (immediately: nothing in it is kept). initdb refuses root, so as root it runs as the `postgres`
# user (Debian's package creates it) or `nobody`. Exit 3: no PostgreSQL binaries here.
set -euo pipefail
cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }
bin="${PG_BIN:-}"
if [ -z "$bin" ]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do [ -x "$d/initdb" ] && { bin="$d"; break; }; done
fi
[ -n "$bin" ] && [ -x "$bin/initdb" ] || { echo "no PostgreSQL binaries (initdb) under /usr/lib/postgresql/*/bin: apt-get install postgresql" >&2; exit 3; }

as_user() {
  if [ "$(id -u)" != 0 ]; then "$@"; return; fi
  local user=postgres; id -u postgres >/dev/null 2>&1 || user=nobody
  runuser -u "$user" -- "$@"
}

case "$cmd" in
  start)
    port="${3:?port}"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && { id -u postgres >/dev/null 2>&1 && chown postgres "$dir" || chown nobody "$dir"; }
    as_user "$bin/initdb" -D "$dir/data" -U odpo --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://odpo@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -d "$dir/data" ] && as_user "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
