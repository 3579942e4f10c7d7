#!/usr/bin/env bash
# Rolling upgrade on one MariaDB: the old server version runs and holds data, the new version
# starts beside it on the same database (migrating the schema under its lock), both are checked
# while they overlap, then the old one is stopped and the new one carries on with everything.
# While they overlap the old server must either keep serving correctly (a compatible schema) or
# refuse clearly (SCHEMA_TOO_NEW): never serve wrong data.
#
#   scripts/smoke-upgrade.sh --old-image IMAGE [--new-image IMAGE]
#   scripts/smoke-upgrade.sh --old-ref GIT_REF [--new-image IMAGE]    builds the old image from git
#       (defaults: --old-ref = the latest v* tag; the new image is built from this tree)
#       needs a Docker engine; exits 77 without one
#   scripts/smoke-upgrade.sh --urls OLD_URL NEW_URL [--start-new CMD] [--stop-old CMD]
#       no Docker: servers on one database (DMAN_AUTH_TOKEN = the admin token); CMD starts the new
#       one once the old one holds data, and stops the old one at the "rolling" step
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE_NAME=smoke-upgrade
# shellcheck source=scripts/smoke-lib.sh
. scripts/smoke-lib.sh
command -v curl >/dev/null || smoke_fail "curl is not installed"

user=${DMAN_SMOKE_USER:-alice}
path=.config/dman-upgrade/rc

# upgrade_steps OLD_URL START_NEW STOP_OLD: the checks, the same with or without Docker.
# START_NEW is a command that starts the new server (once the old one holds data) and prints its URL.
upgrade_steps() {
  local old=$1 start_new=$2 stop_old=$3 admin=$DMAN_AUTH_TOKEN token v1 v2 v3 code new
  smoke_wait_healthy "$old" 120 || smoke_fail "the old server at $old never became healthy"
  token=$(smoke_token "$old" "$admin" "$user")
  v1="v1 from the old server $$ $RANDOM"
  smoke_publish "$old" "$token" "$user" "$path" "$v1"
  smoke_install_check "$old" "$token" "$user" "$path" "$v1"
  smoke_say "old server holds $user/$path"

  new=$(eval "$start_new") || smoke_fail "could not start the new server"
  new=${new%/}
  smoke_say "new server on $new"
  smoke_wait_healthy "$new" 120 || smoke_fail "the new server at $new never became healthy (did the migration fail?)"
  smoke_install_check "$new" "$token" "$user" "$path" "$v1"
  v2="v2 from the new server $$ $RANDOM"
  smoke_publish "$new" "$token" "$user" "$path" "$v2"
  smoke_install_check "$new" "$token" "$user" "$path" "$v2"
  smoke_say "new server reads the old data and writes on top of it"

  # Overlap: the old server sees v2, or refuses with a clear error; anything else is a failure.
  code=$(curl -s -o /dev/null --max-time 15 -w '%{http_code}' "$old/health" || true)
  if [ "$code" = 200 ]; then
    smoke_install_check "$old" "$token" "$user" "$path" "$v2"
    smoke_say "old server still serves correctly beside the new one"
  else
    body=$(curl -s --max-time 15 -X POST -H "authorization: Bearer $token" -H 'content-type: application/json' \
      -d "{\"paths\":[{\"user\":\"$user\",\"path\":\"$path\"}]}" "$old/install" || true)
    case "$body" in
      *SCHEMA_TOO_NEW* | *schema*) smoke_say "old server refuses the newer schema clearly (HTTP $code)" ;;
      '') smoke_say "old server is down beside the new one (HTTP $code): acceptable for a rolling upgrade" ;;
      *) smoke_fail "old server answers HTTP $code without naming the schema: $body" ;;
    esac
  fi

  [ -z "$stop_old" ] || eval "$stop_old"
  v3="v3 after the old server left $$ $RANDOM"
  smoke_publish "$new" "$token" "$user" "$path" "$v3"
  smoke_install_check "$new" "$token" "$user" "$path" "$v3"
  smoke_say "PASSED: rolling upgrade $old -> $new"
}

old_image='' new_image='' old_ref='' urls=() stop_old='' start_new=''
while [ $# -gt 0 ]; do
  case "$1" in
    --old-image) old_image=$2; shift 2 ;;
    --new-image) new_image=$2; shift 2 ;;
    --old-ref) old_ref=$2; shift 2 ;;
    --urls) urls=("$2" "$3"); shift 3 ;;
    --stop-old) stop_old=$2; shift 2 ;;
    --start-new) start_new=$2; shift 2 ;;
    *) smoke_fail "unknown argument $1 (see the head of $0)" ;;
  esac
done

if [ ${#urls[@]} -eq 2 ]; then
  [ -n "${DMAN_AUTH_TOKEN:-}" ] || smoke_fail "set DMAN_AUTH_TOKEN to the servers' admin token"
  export new_url=${urls[1]}
  upgrade_steps "${urls[0]%/}" "${start_new:+{ $start_new; \} >&2; }printf %s \"\$new_url\"" "$stop_old"
  exit 0
fi

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  smoke_say "SKIPPED: no Docker engine here (docker info failed). Run it where Docker runs, or use --urls against two servers."
  exit 77
fi

run_id="dman-upgrade-$$"
net=$run_id
cleanup() {
  docker rm -f "$run_id-old" "$run_id-new" "$run_id-db" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  [ -z "${worktree:-}" ] || git worktree remove --force "$worktree" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [ -z "$old_image" ]; then
  old_ref=${old_ref:-$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || true)}
  [ -n "$old_ref" ] || smoke_fail "no old version to upgrade from: pass --old-image IMAGE or --old-ref GIT_REF (no v* tag found)"
  worktree=$(mktemp -d)/old
  git worktree add --detach "$worktree" "$old_ref" >/dev/null || smoke_fail "git worktree add $old_ref failed"
  old_image="dman-server:upgrade-old-$$"
  smoke_say "building the old image from $old_ref"
  docker build -q -t "$old_image" "$worktree" >/dev/null || smoke_fail "could not build $old_ref"
fi
if [ -z "$new_image" ]; then
  new_image="dman-server:upgrade-new-$$"
  smoke_say "building the new image from this tree"
  docker build -q -t "$new_image" . >/dev/null || smoke_fail "could not build this tree"
fi

DMAN_AUTH_TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
export DMAN_AUTH_TOKEN
db_password="upgrade-$$-$RANDOM"
docker network create "$net" >/dev/null
docker run -d --name "$run_id-db" --network "$net" --network-alias db \
  -e MARIADB_DATABASE=dman -e MARIADB_USER=dman -e MARIADB_PASSWORD="$db_password" -e MARIADB_RANDOM_ROOT_PASSWORD=1 \
  mariadb:11 >/dev/null
deadline=$((SECONDS + 180))
until docker exec "$run_id-db" healthcheck.sh --connect --innodb_initialized >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || smoke_fail "MariaDB did not start"
  sleep 1
done

start_server() { # NAME IMAGE -> prints http://127.0.0.1:PORT
  docker run -d --name "$run_id-$1" --network "$net" -p 127.0.0.1::3626 \
    -e DMAN_STORAGE_DRIVER=mariadb -e DMAN_DB_ADDR=db:3306 -e DMAN_DB_NAME=dman -e DMAN_DB_USER=dman \
    -e DMAN_DB_PASSWORD="$db_password" -e DMAN_USERS="$user,bob" -e DMAN_AUTH_TOKEN="$DMAN_AUTH_TOKEN" "$2" >/dev/null
  printf 'http://%s' "$(docker port "$run_id-$1" 3626/tcp | head -n 1)"
}
old_url=$(start_server old "$old_image")
smoke_say "old server ($old_image) on $old_url"
smoke_wait_healthy "$old_url" 120 || { docker logs --tail 50 "$run_id-old" >&2; smoke_fail "the old server never became healthy"; }
upgrade_steps "$old_url" "start_server new \"\$new_image\"" "docker stop -t 20 $run_id-old >/dev/null"
