# TAP helpers for shell tests: each check prints "ok N - desc" or "not ok N - desc";
# tests/run counts them. Source it; call tap_done at the end (exit 1 on any failure).
_tap_n=0
_tap_failed=0

# Before a result that took 5 s or more since the previous one, a "# Ns" comment: the
# logs of a slow test then show where its time goes.
_tap_time() {
	local d=$((SECONDS - ${_tap_last:-0}))
	_tap_last=$SECONDS
	[ "$d" -lt 5 ] || echo "# ${d}s"
}

tap_ok() {
	_tap_time
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $*"
}

tap_fail() {
	_tap_time
	_tap_n=$((_tap_n + 1))
	_tap_failed=$((_tap_failed + 1))
	echo "not ok $_tap_n - $*"
}

# tap_check DESC CMD...: ok if CMD exits 0; shows CMD's output on failure.
tap_check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		tap_ok "$desc"
	else
		tap_fail "$desc"
		printf '%s\n' "$out" | sed 's/^/#   /'
	fi
}

# tap_check_fails DESC CMD...: ok if CMD exits non-zero.
tap_check_fails() {
	local desc=$1
	shift
	if "$@" >/dev/null 2>&1; then
		tap_fail "$desc (unexpectedly succeeded)"
	else
		tap_ok "$desc"
	fi
}

# tap_count_from NAME / tap_count NAME: print "# NAME: OK/TOTAL" for the checks made
# between the two calls (the counts issue acceptance lists ask for).
tap_count_from() { eval "_tap_from_$1=\$_tap_n _tap_ffrom_$1=\$_tap_failed"; }
tap_count() {
	local n f
	eval "n=\$((_tap_n - _tap_from_$1)) f=\$((_tap_failed - _tap_ffrom_$1))"
	echo "# ${1//_/ }: $((n - f))/$n"
}

tap_done() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
	exit
}
