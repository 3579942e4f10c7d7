#!/usr/bin/env bash
# HTTP steps shared by smoke-compose.sh and smoke-upgrade.sh: create a device token through the
# admin API, publish a file with the seed's tar endpoint, install it back and compare, check that
# the token reaches no other user. Needs curl and tar only. Source it; it defines functions.

smoke_say() { printf '%s: %s\n' "${SMOKE_NAME:-smoke}" "$*" >&2; }
smoke_fail() {
  smoke_say "FAILED: $*"
  exit 1
}

# smoke_wait_healthy URL SECONDS: waits until GET URL/health answers 200.
smoke_wait_healthy() {
  local url=$1 deadline=$((SECONDS + ${2:-60}))
  until curl -fs -o /dev/null --max-time 3 "$url/health"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

# smoke_token URL ADMIN_TOKEN USER: prints a new device token for USER.
smoke_token() {
  local url=$1 admin=$2 user=$3 reply token
  reply=$(curl -fsS --max-time 15 -X POST -H "authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"user\":\"$user\",\"device\":\"smoke-$$\",\"admin\":false}" "$url/v1/admin/tokens") ||
    smoke_fail "POST $url/v1/admin/tokens did not create a token for $user (is DMAN_AUTH_TOKEN the server's admin token?)"
  token=$(printf '%s' "$reply" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  [ -n "$token" ] || smoke_fail "POST $url/v1/admin/tokens answered without a token"
  printf '%s' "$token"
}

# smoke_publish URL TOKEN USER PATH CONTENT: publishes one file as the seed's tar (entry USER/PATH).
smoke_publish() {
  local url=$1 token=$2 user=$3 path=$4 content=$5 dir
  dir=$(mktemp -d)
  mkdir -p "$dir/$user/$(dirname "$path")"
  printf '%s\n' "$content" >"$dir/$user/$path"
  tar -C "$dir" -cf "$dir/publish.tar" "$user/$path"
  curl -fsS --max-time 30 -o /dev/null -X POST -H "authorization: Bearer $token" -H 'content-type: application/x-tar' \
    --data-binary @"$dir/publish.tar" "$url/publish" || { rm -rf "$dir"; smoke_fail "POST $url/publish of $user/$path failed"; }
  rm -rf "$dir"
}

# smoke_install_check URL TOKEN USER PATH CONTENT: installs USER/PATH and checks it holds CONTENT.
smoke_install_check() {
  local url=$1 token=$2 user=$3 path=$4 content=$5 dir
  dir=$(mktemp -d)
  curl -fsS --max-time 30 -o "$dir/install.tar" -X POST -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "{\"paths\":[{\"user\":\"$user\",\"path\":\"$path\"}]}" "$url/install" || { rm -rf "$dir"; smoke_fail "POST $url/install of $user/$path failed"; }
  mkdir "$dir/out"
  tar -C "$dir/out" -xf "$dir/install.tar" || { rm -rf "$dir"; smoke_fail "$url/install did not answer a tar archive"; }
  printf '%s\n' "$content" >"$dir/want"
  cmp -s "$dir/want" "$dir/out/$user/$path" || { rm -rf "$dir"; smoke_fail "$user/$path installed from $url differs from what was published"; }
  rm -rf "$dir"
}

# smoke_forbidden URL TOKEN OTHER_USER: a device token must not reach another user's files.
smoke_forbidden() {
  local url=$1 token=$2 other=$3 code
  code=$(curl -s -o /dev/null --max-time 15 -w '%{http_code}' -H "authorization: Bearer $token" "$url/download?user=$other&path=.profile")
  [ "$code" = 403 ] || smoke_fail "a device token read $other's files on $url (HTTP $code, want 403)"
}

# smoke_roundtrip URL ADMIN_TOKEN USER OTHER_USER: the whole HTTP smoke against one server.
smoke_roundtrip() {
  local url=$1 admin=$2 user=$3 other=$4 token content
  smoke_wait_healthy "$url" 60 || smoke_fail "$url/health never answered 200"
  token=$(smoke_token "$url" "$admin" "$user")
  content="smoke $(date +%s) $$ $RANDOM"
  smoke_publish "$url" "$token" "$user" .config/dman-smoke/rc "$content"
  smoke_install_check "$url" "$token" "$user" .config/dman-smoke/rc "$content"
  smoke_forbidden "$url" "$token" "$other"
  smoke_say "ok: $url: token, publish, install, and another user's files refused"
}
