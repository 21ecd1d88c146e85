# Shared by host and guest shell tests: TAP helpers, cleanup registry, free ports.
PVENC_TOP=${PVENC_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export PVENC_TOP
# Where host tests take pvenc's programs: build/rel, or build/san and a valgrind wrapper
# directory for the sanitizer and valgrind passes of `make check`.
PVENC_BIN=${PVENC_BIN:-$PVENC_TOP/build/rel}
export PVENC_BIN
# shellcheck source=tests/lib/tap.sh
. "$PVENC_TOP/tests/lib/tap.sh"

# on_exit CMD: run CMD (eval) when the test exits, newest first, output discarded.
_cleanups=()
on_exit() { _cleanups=("$*" "${_cleanups[@]}"); }
_run_cleanups() {
	local rc=$? c
	for c in "${_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
	exit "$rc"
}
trap _run_cleanups EXIT

# A fresh scratch directory removed at exit (not under /tmp inside the guest's view
# of the host, so both host and guest tests can use it).
scratch_dir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/pvenc-test.XXXXXX")
	on_exit "rm -rf '$d'"
	echo "$d"
}

free_port() {
	local p i
	for i in $(seq 1 200); do
		# Below the kernel's ephemeral range (32768-60999): an outgoing connection
		# can take a port there between this check and the server's bind.
		p=$((20000 + RANDOM % 12000))
		ss -Htan "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

# wait_for SECS CMD...: poll CMD every 0.1 s until it succeeds, for SECS seconds of
# wall clock (under TCG one poll can take longer than the sleep, so no poll count).
wait_for() {
	# PVENC_WAIT_SCALE: run-guest stretches every limit when guests share the CPU.
	local end=$((SECONDS + $1 * ${PVENC_WAIT_SCALE:-1}))
	shift
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# dead_watchers IMAGE: the addresses of the clients watching IMAGE's header, other
# than krbd's (mapped images). Right after a test killed a process that had IMAGE open,
# when nothing else has it open, these are the dead process's.
dead_watchers() {
	local krbd cl addr
	krbd=" $(sed 's/^client//' /sys/bus/rbd/devices/*/client_id 2>/dev/null | tr '\n' ' ') "
	rbd status "$1" --format json 2>/dev/null | jq -r '.watchers[]? | "\(.client) \(.address)"' |
		while read -r cl addr; do
			[ -n "$addr" ] || continue
			case $krbd in *" ${cl#client.} "*) continue ;; esac
			echo "$addr"
		done
}

# forget_dead IMAGE: blocklist those clients, as an operator does for a process known to
# be dead (`ceph osd blocklist add`): its watch goes at once, instead of holding header
# notifies and its exclusive lock until the watch timeout. Needs CEPH_CONF.
forget_dead() {
	local addr
	for addr in $(dead_watchers "$1"); do
		"$PVENC_TOP/build/rel/tests/ceph-mon-command" "$CEPH_CONF" \
			"{\"prefix\": \"osd blocklist\", \"blocklistop\": \"add\", \"addr\": \"$addr\"}" >/dev/null ||
			echo "# blocklisting $addr failed" >&2
	done
}
