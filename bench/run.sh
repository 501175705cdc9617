#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: builds release binaries, starts a server on
# SQLite and one on PostgreSQL (default argon2 parameters, dev mailer), and
# runs poolgate-loadgen against each. Every phase prints its ratio to the
# in-process ceiling measured in the same run on the same machine.
#   bash bench/run.sh                 # SQLite + PostgreSQL (postgres://postgres@127.0.0.1:5432)
#   SECONDS_PER_PHASE=30 bash bench/run.sh
#   ONLY=protections bash bench/run.sh  # only the G2/G3 phases, on both stores
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/poolgate-target}"
# PROFILE=dev measures the debug build (argon2 and the hashes are optimised
# in it too, see Cargo.toml) when there is no time for a release build.
if [ "${PROFILE:-release}" = dev ]; then
  cargo build --locked --bins
  BIN="$CARGO_TARGET_DIR/debug"
else
  cargo build --release --locked --bins
  BIN="$CARGO_TARGET_DIR/release"
fi
SECS="${SECONDS_PER_PHASE:-15}"
CONC="${CONCURRENCY:-16}"
PG="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}"
# sqlx's default is sslmode=prefer: TLS even on loopback. PG_SSLMODE=disable
# measures a co-located database without it.
PG_SSLMODE="${PG_SSLMODE:-prefer}"
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start() { # name port [db url]
  mkdir -p "$WORK/$1"
  ( cd "$WORK/$1" && exec env POOLGATE_SERVER__BIND="127.0.0.1:$2" POOLGATE_SERVER__PUBLIC_URL="http://127.0.0.1:$2" \
      POOLGATE_LOG__LEVEL=warn POOLGATE_STORAGE__ENABLED=false POOLGATE_RATE_LIMITS__SIGNIN__PER_IP=1000000000 POOLGATE_RATE_LIMITS__SIGNIN__PER_POOL=1000000000 POOLGATE_RATE_LIMITS__SIGNUP__PER_IP=1000000000 POOLGATE_RATE_LIMITS__SIGNUP__PER_POOL=1000000000 POOLGATE_RATE_LIMITS__CODE_CHECK__PER_IP=1000000000 POOLGATE_RATE_LIMITS__CODE_CHECK__PER_POOL=1000000000 ${3:+POOLGATE_DATABASE__URL=$3} "$BIN/poolgate" serve > "$WORK/$1/server.log" 2>&1 ) &
  echo $! > "$WORK/$1/pid"
  pids+=("$(cat "$WORK/$1/pid")")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$2/health/ready" >/dev/null && return 0; sleep 0.2; done
  echo "server $1 did not start:"; cat "$WORK/$1/server.log"; exit 1
}

lg() { # name port args...
  local name=$1 port=$2; shift 2
  "$BIN/poolgate-loadgen" --url "http://127.0.0.1:$port" --admin-key "$(cat "$WORK/$name/data/admin.key")" \
    --server-pid "$(cat "$WORK/$name/pid")" --concurrency "$CONC" --seconds "$SECS" "$@"
}

guard() { # name port [db url]: the sign-in flood (G2) and known vs unknown names (G3)
  # The default sign-in limits, and 127.0.0.1 trusted as a proxy so each
  # request can claim its own client address in X-Forwarded-For. Only sign-up
  # and code checks (the load generator's setup, from one address) are lifted.
  mkdir -p "$WORK/$1"
  ( cd "$WORK/$1" && exec env POOLGATE_SERVER__BIND="127.0.0.1:$2" POOLGATE_SERVER__PUBLIC_URL="http://127.0.0.1:$2" \
      POOLGATE_LOG__LEVEL=error POOLGATE_STORAGE__ENABLED=false 'POOLGATE_SERVER__TRUSTED_PROXIES=["127.0.0.1"]' \
      POOLGATE_RATE_LIMITS__SIGNUP__PER_IP=1000000 POOLGATE_RATE_LIMITS__CODE_CHECK__PER_IP=1000000 \
      ${3:+POOLGATE_DATABASE__URL=$3} "$BIN/poolgate" serve > "$WORK/$1/server.log" 2>&1 ) &
  echo $! > "$WORK/$1/pid"; pids+=("$(cat "$WORK/$1/pid")")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$2/health/ready" >/dev/null && break; sleep 0.2; done
  SECS=30 lg "$1" "$2" --users 32 --phases flood --flood-factor "${FLOOD_FACTOR:-10}"
  lg "$1" "$2" --users 32 --phases enumeration --samples 250
  kill "$(cat "$WORK/$1/pid")"
}

if [ "${ONLY:-}" = protections ]; then
  echo "### Protections (SQLite): a sign-in flood (G2) and known vs unknown names (G3)"
  guard guard 18093
  DB="poolgate_bench_$$"
  psql "$PG/postgres" -qc "CREATE DATABASE ${DB}_guard"
  trap 'cleanup; psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS ${DB}_guard WITH (FORCE)"' EXIT
  echo "### Protections (PostgreSQL, sslmode=$PG_SSLMODE)"
  guard pgguard 18094 "$PG/${DB}_guard?sslmode=$PG_SSLMODE"
  exit 0
fi

echo "### SQLite"
start sqlite 18090
lg sqlite 18090 --users 32 --alg RS256 --phases signin,refresh
lg sqlite 18090 --users 32 --alg ES256 --phases refresh
lg sqlite 18090 --users 32 --alg ES256 --phases refresh --rotation
lg sqlite 18090 --users 2 --alg RS256 --phases client_credentials
lg sqlite 18090 --users 2 --alg ES256 --phases client_credentials
lg sqlite 18090 --users 2 --alg ES256 --phases authorization_code
lg sqlite 18090 --users 2 --alg RS256 --phases authorization_code
lg sqlite 18090 --users 16 --alg RS256 --phases overload

echo "### Protections (SQLite): a sign-in flood (G2) and known vs unknown names (G3)"
guard guard 18093

echo "### PostgreSQL (sslmode=$PG_SSLMODE)"
DB="poolgate_bench_$$"
psql "$PG/postgres" -qc "CREATE DATABASE $DB" -c "CREATE DATABASE ${DB}_plain"
trap 'cleanup; psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS ${DB}_plain WITH (FORCE)"' EXIT
start pg 18091 "$PG/$DB?sslmode=$PG_SSLMODE"
lg pg 18091 --users 32 --alg RS256 --phases signin,refresh
lg pg 18091 --users 32 --alg ES256 --phases refresh
lg pg 18091 --users 32 --alg ES256 --phases refresh --rotation
lg pg 18091 --users 2 --alg ES256 --phases client_credentials
lg pg 18091 --users 2 --alg ES256 --phases authorization_code
kill "$(cat "$WORK/pg/pid")"
psql "$PG/postgres" -qc "CREATE DATABASE ${DB}_guard"
trap 'cleanup; psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS ${DB}_plain WITH (FORCE)" -c "DROP DATABASE IF EXISTS ${DB}_guard WITH (FORCE)"' EXIT
echo "### Protections (PostgreSQL, sslmode=$PG_SSLMODE)"
guard pgguard 18094 "$PG/${DB}_guard?sslmode=$PG_SSLMODE"

if [ "$PG_SSLMODE" != disable ]; then
  # The same database as docker-compose.yml reaches it: a container on the
  # same host, no TLS. Only the sign-in phase, whose ratio the database's
  # CPU on the same two cores decides.
  echo "### PostgreSQL (sslmode=disable, as in docker-compose.yml)"
  start pgplain 18092 "$PG/${DB}_plain?sslmode=disable"
  lg pgplain 18092 --users 32 --alg RS256 --phases signin
fi
