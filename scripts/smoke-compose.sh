#!/usr/bin/env bash
# Smoke test of docker-compose.yml: build and start the stack, wait until every service is
# healthy, create a device token, publish a file and install it back over HTTP, on MariaDB and
# then on Redis, and take everything down (volumes included).
#
#   scripts/smoke-compose.sh              needs a Docker engine with compose v2; exits 77 without one
#   scripts/smoke-compose.sh --url URL    no Docker: the same HTTP steps against a running server
#                                         (DMAN_AUTH_TOKEN = its admin token; DMAN_SMOKE_USERS=alice,bob)
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE_NAME=smoke-compose
# shellcheck source=scripts/smoke-lib.sh
. scripts/smoke-lib.sh
command -v curl >/dev/null || smoke_fail "curl is not installed"

users=${DMAN_SMOKE_USERS:-alice,bob}
user=${users%%,*}
other=${users#*,}
other=${other%%,*}

if [ "${1:-}" = --url ]; then
  [ -n "${2:-}" ] || smoke_fail "usage: $0 --url http://HOST:PORT"
  [ -n "${DMAN_AUTH_TOKEN:-}" ] || smoke_fail "set DMAN_AUTH_TOKEN to the server's admin token"
  smoke_roundtrip "${2%/}" "$DMAN_AUTH_TOKEN" "$user" "$other"
  exit 0
fi

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  smoke_say "SKIPPED: no Docker engine here (docker info failed). Run it where Docker runs, or use --url against a server."
  exit 77
fi
docker compose version >/dev/null 2>&1 || { smoke_say "SKIPPED: the docker compose v2 plugin is missing"; exit 77; }

export COMPOSE_PROJECT_NAME="dman-smoke-$$"
DMAN_AUTH_TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export DMAN_AUTH_TOKEN DMAN_USERS="$users" DMAN_PORT="" DMAN_DB_PASSWORD="smoke-$$-$RANDOM"
cleanup() { docker compose down --volumes --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT

for driver in mariadb redis; do
  export DMAN_STORAGE_DRIVER=$driver
  smoke_say "starting the stack with storage_driver=$driver"
  if ! docker compose up --detach --build --wait --wait-timeout 240; then
    docker compose ps
    docker compose logs --tail 80
    smoke_fail "the stack did not become healthy with $driver"
  fi
  hostport=$(docker compose port dman 3626 | tail -n 1)
  [ -n "$hostport" ] || smoke_fail "dman publishes no port"
  smoke_roundtrip "http://$hostport" "$DMAN_AUTH_TOKEN" "$user" "$other"
  # The image's own HEALTHCHECK agrees.
  [ "$(docker inspect --format '{{.State.Health.Status}}' "$(docker compose ps -q dman)")" = healthy ] || smoke_fail "the dman container is not healthy by its HEALTHCHECK"
  # Non-root, as the Dockerfile says.
  [ "$(docker compose exec -T dman id -u)" != 0 ] || smoke_fail "dman runs as root in the container"
done
smoke_say "PASSED"
