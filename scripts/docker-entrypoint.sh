#!/bin/sh
# Entry point of the server image: maps DMAN_* environment variables onto `dman serve` and execs
# it (so dman is PID 1 and gets SIGTERM from `docker stop`).
#
#   DMAN_ADDR        HOST:PORT to listen on              (default 0.0.0.0:3626)
#   DMAN_DATA_DIR    data folder (disk storage, state)   (default /data, the image's volume)
#   DMAN_CONFIG      a mounted dman.yaml; when unset, one is generated from the variables below
#   DMAN_STORAGE_DRIVER  disk | redis | mariadb           (default disk)
#   DMAN_USERS       comma-separated user names the server accepts
#   DMAN_REDIS_ADDR DMAN_REDIS_SOCKET DMAN_REDIS_USERNAME DMAN_REDIS_PASSWORD DMAN_REDIS_DB
#   DMAN_DB_ADDR DMAN_DB_SOCKET DMAN_DB_NAME DMAN_DB_USER DMAN_DB_PASSWORD
#   DMAN_AUTH_TOKEN  admin token (read by dman itself)
#   DMAN_LOG_LEVEL   (default info)  DMAN_LOG_FORMAT (default json)
# Each *_PASSWORD and DMAN_AUTH_TOKEN may instead be given as a file: DMAN_DB_PASSWORD_FILE=/run/secrets/x.
#
#   docker run IMAGE                     -> dman serve --addr … --data-dir …
#   docker run IMAGE serve --flag …      -> extra flags go to dman serve
#   docker run IMAGE token create …      -> any other dman command, with the same config (and, for
#                                           token, the same data dir)
#   docker run IMAGE healthcheck         -> exit 0 when /health answers 200 (the image's HEALTHCHECK)
set -eu

NODE="${DMAN_NODE:-node}"
DMAN_BIN="${DMAN_BIN:-/app/bin/dman.js}"
addr="${DMAN_ADDR:-0.0.0.0:3626}"
data_dir="${DMAN_DATA_DIR:-/data}"

die() {
  echo "dman-entrypoint: $*" >&2
  exit 2
}

# HOST:PORT, where HOST may be empty, a name, an IPv4 or a bracketed IPv6 address.
case "$addr" in
  *:*) host="${addr%:*}" port="${addr##*:}" ;;
  *) die "DMAN_ADDR='$addr' is not HOST:PORT; set it like 0.0.0.0:3626" ;;
esac
case "$port" in
  '' | *[!0-9]*) die "DMAN_ADDR='$addr' has no numeric port; set it like 0.0.0.0:3626" ;;
esac
[ "$port" -le 65535 ] || die "DMAN_ADDR='$addr': port $port is above 65535"

if [ "${1:-}" = healthcheck ]; then
  case "$host" in '' | 0.0.0.0 | '[::]' | '*') host=127.0.0.1 ;; esac
  # shellcheck disable=SC2016 # JavaScript, not shell: nothing to expand
  exec "$NODE" -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(4000) })
      .then((r) => { if (!r.ok) console.error(`dman /health answered ${r.status}`); process.exit(r.ok ? 0 : 1); },
            (e) => { console.error(`dman /health unreachable: ${e.cause?.code ?? e.message}`); process.exit(1); });
  ' "http://$host:$port/health"
fi

# Secrets from files (docker/compose secrets) win over nothing, never over an explicit value.
for var in DMAN_AUTH_TOKEN DMAN_DB_PASSWORD DMAN_REDIS_PASSWORD; do
  eval "file=\${${var}_FILE:-}"
  eval "value=\${${var}:-}"
  if [ -n "$file" ] && [ -z "$value" ]; then
    [ -r "$file" ] || die "${var}_FILE=$file is not a readable file"
    value="$(cat "$file")"
    export "$var=$value"
  fi
done

config="${DMAN_CONFIG:-}"
if [ -n "$config" ]; then
  { [ -r "$config" ] && [ -f "$config" ]; } || die "DMAN_CONFIG=$config is not a readable file; mount it (e.g. -v \$PWD/dman.yaml:/config/dman.yaml:ro) or unset DMAN_CONFIG to configure through DMAN_* variables"
else
  # JSON is YAML: build the config with node from the environment, no shell quoting to get wrong.
  config="${DMAN_GENERATED_CONFIG:-${TMPDIR:-/tmp}/dman.yaml}"
  umask 077
  # shellcheck disable=SC2016 # JavaScript, not shell: nothing to expand
  "$NODE" -e '
    const e = process.env;
    const set = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ""));
    const int = (name) => {
      if (!e[name]) return undefined;
      if (!/^\d+$/.test(e[name])) { console.error(`dman-entrypoint: ${name}=${e[name]} is not a whole number`); process.exit(2); }
      return Number(e[name]);
    };
    const c = { storage_driver: e.DMAN_STORAGE_DRIVER || "disk", data_dir: e.DMAN_DATA_DIR || "/data" };
    const users = (e.DMAN_USERS || "").split(",").map((u) => u.trim()).filter(Boolean);
    // A home is required by the config schema; the server never reads it (clients use their own).
    if (users.length) c.users = Object.fromEntries(users.map((u) => [u, { home: "/home/" + u }]));
    const redis = set({ addr: e.DMAN_REDIS_ADDR, socket: e.DMAN_REDIS_SOCKET, username: e.DMAN_REDIS_USERNAME, password: e.DMAN_REDIS_PASSWORD, db: int("DMAN_REDIS_DB") });
    const db = set({ addr: e.DMAN_DB_ADDR, socket: e.DMAN_DB_SOCKET, db: e.DMAN_DB_NAME, user: e.DMAN_DB_USER, password: e.DMAN_DB_PASSWORD });
    if (Object.keys(redis).length) c.redis = redis;
    if (Object.keys(db).length) c.db = db;
    process.stdout.write("# generated from DMAN_* variables by the container entry point\n" + JSON.stringify(c, null, 2) + "\n");
  ' >"$config" || die "could not write the generated config to $config (set TMPDIR or DMAN_GENERATED_CONFIG to a writable path)"
fi

mkdir -p "$data_dir" 2>/dev/null || true
{ [ -d "$data_dir" ] && [ -w "$data_dir" ]; } || die "DMAN_DATA_DIR=$data_dir is not a writable folder for uid $(id -u); mount a volume there or chown it to $(id -u)"

if [ $# -eq 0 ] || [ "$1" = serve ] || [ "${1#-}" != "$1" ]; then
  [ "${1:-}" = serve ] && shift
  exec "$NODE" "$DMAN_BIN" --config "$config" --log-level "${DMAN_LOG_LEVEL:-info}" --log-format "${DMAN_LOG_FORMAT:-json}" \
    serve --addr "$addr" --data-dir "$data_dir" "$@"
fi
# `token …` works on the store directly: point it at the same data dir as the server, unless told.
if [ "$1" = token ]; then
  case " $* " in
    *" --data-dir"* | *" --server"*) ;;
    *) set -- "$@" --data-dir "$data_dir" ;;
  esac
fi
exec "$NODE" "$DMAN_BIN" --config "$config" --log-level "${DMAN_LOG_LEVEL:-warn}" --log-format "${DMAN_LOG_FORMAT:-json}" "$@"
