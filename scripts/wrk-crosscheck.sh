#!/usr/bin/env bash
# wrk-crosscheck.sh cross-checks cmd/gatehouse-bench with an independent
# load generator: wrk (Debian package; installed with apt-get if missing).
# It starts the harness in -serve mode (same setup: a no-op handler and a
# gatehouse with -users users), then runs wrk against the no-op handler,
# forward-auth with a session cookie (scripts/wrk-forward.lua rotates
# through every user's cookie) and token introspection
# (scripts/wrk-introspect.lua), and prints req/s and the ratio to the no-op.
#
#   scripts/wrk-crosscheck.sh                                  # embedded SQLite
#   scripts/wrk-crosscheck.sh -store 'postgres://…' -cache redis://127.0.0.1:6379/0
#
# Arguments go to gatehouse-bench. WRK_THREADS (2), WRK_CONNECTIONS (64)
# and WRK_DURATION (10s) tune wrk. On a shared machine, wrap it:
# flock /tmp/gatehouse-bench.lock scripts/wrk-crosscheck.sh …
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${WRK_THREADS:-2}
conns=${WRK_CONNECTIONS:-64}
duration=${WRK_DURATION:-10s}

if ! command -v wrk >/dev/null 2>&1; then
	echo "wrk not found; installing the Debian package" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get install -y wrk >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y wrk >&2; }
fi

tmp=$(mktemp -d)
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/gatehouse-bench" ./cmd/gatehouse-bench
"$tmp/gatehouse-bench" -serve "$@" >"$tmp/serve.out" 2>"$tmp/serve.err" &
pid=$!
for _ in $(seq 1200); do
	grep -qx ready "$tmp/serve.out" && break
	if ! kill -0 "$pid" 2>/dev/null; then
		pid=""
		echo "gatehouse-bench -serve exited:" >&2
		cat "$tmp/serve.err" >&2
		exit 1
	fi
	sleep 0.25
done
grep -qx ready "$tmp/serve.out" || { echo "gatehouse-bench -serve did not get ready" >&2; cat "$tmp/serve.err" >&2; exit 1; }
get() { sed -n "s/^$1=//p" "$tmp/serve.out"; }
noop_url=$(get noop_url)
gh_url=$(get gatehouse_url)
cookies_file=$(get cookies_file)
tokens_file=$(get tokens_file)
introspect_bearer=$(get introspect_bearer)
users=$(wc -l <"$cookies_file")

# run NAME wrk-args… : runs wrk, keeps its output, prints one table row.
base=""
rows=""
run() {
	local name=$1
	shift
	echo "wrk $name…" >&2
	wrk -t"$threads" -c"$conns" -d"$duration" --latency "$@" >"$tmp/$name.txt" 2>&1
	sed 's/^/  /' "$tmp/$name.txt" >&2
	local rps p50 p99 non2xx sockerr extra ratio
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/$name.txt")
	p50=$(awk '$1 == "50%" {print $2}' "$tmp/$name.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$tmp/$name.txt")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$tmp/$name.txt")
	sockerr=$(awk '/Socket errors:/ {sub(/.*Socket errors: /, ""); print}' "$tmp/$name.txt")
	extra=$(awk '/^Not active or not 200:/ {print $NF}' "$tmp/$name.txt")
	[ -n "$base" ] || base=$rps
	ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.2f", a / b }')
	rows+="| $name | ${rps%.*} | $ratio | $p50 | $p99 | ${non2xx:-0}${extra:+ (not active: $extra)} | ${sockerr:-none} |"$'\n'
}

run noop "$noop_url"
# The forward-auth request, headers and cookie and all, to the no-op
# handler: the fair floor for forward-auth (the same bytes to parse).
run noop-forward -s scripts/wrk-forward.lua "$noop_url/v1/authz/forward" -- "$cookies_file"
run forward-cookie -s scripts/wrk-forward.lua "$gh_url/v1/authz/forward" -- "$cookies_file"
run introspect -s scripts/wrk-introspect.lua "$gh_url/v1/introspect" -- "$tokens_file" "$introspect_bearer"

echo
echo "wrk -t$threads -c$conns -d$duration --latency; gatehouse-bench -serve $*; $users users; $(nproc) cores shared by wrk and the servers"
echo
echo "| target | req/s | ratio to noop | p50 | p99 | errors (non-2xx) | socket errors |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
printf '%s' "$rows"
