#!/usr/bin/env bash
# Start the scale-out backends' services on loopback for one test run, and print the settings
# the tests read as `export` lines (eval them):
#   * PostgreSQL from Debian's packages, a temporary cluster in a fresh directory;
#   * moto's S3 server (PyPI moto[server], in the active virtualenv), one bucket.
# `bash .ci/services.sh stop DIR` stops what a run in DIR started.
set -euo pipefail

if [ "${1:-}" = stop ]; then
    dir=$2
    if [ -f "$dir/moto.pid" ]; then kill "$(cat "$dir/moto.pid")" 2>/dev/null || true; fi
    pgbin=$(cat "$dir/pgbin")
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    exit 0
fi

free_port() {  # a port nothing listens on now (a leftover server must not collide)
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pg_port=${BLOBFLOW_PG_PORT:-$(free_port)}
s3_port=${BLOBFLOW_S3_PORT:-$(free_port)}

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")

dir=$(mktemp -d /tmp/blobflow-services.XXXXXX)
chmod 755 "$dir"
echo "$pgbin" > "$dir/pgbin"
mkdir "$dir/pg"
chown postgres "$dir/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$dir/pg" -A trust -U blobflow >"$dir/initdb.log" 2>&1
# A throwaway cluster for tests: no fsync (nothing in it must survive the machine).
runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -w -t 60 start \
    -o "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1 -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" >&2
runuser -u postgres -- "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U blobflow blobflow

python -m moto.server -H 127.0.0.1 -p "$s3_port" >"$dir/moto.log" 2>&1 &
echo $! > "$dir/moto.pid"
for _ in $(seq 100); do
    if python - "$s3_port" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
PY
    sleep 0.2
done

cat <<OUT
export BLOBFLOW_SERVICES_DIR=$dir
export BLOBFLOW_TEST_DB=postgresql://blobflow@127.0.0.1:$pg_port/blobflow
export BLOBFLOW_TEST_S3=s3://blobflow-test
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_DEFAULT_REGION=us-east-1
OUT
