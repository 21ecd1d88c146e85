# Crash walks through librbd for one KMS entry (hosts 54-56): create, rotate and delete
# are killed -9 at every crash point they pass (learnt from a traced run, so a new point
# is walked without a list kept here), then must recover as documented. Source after
# common.sh and tap.sh; the caller defines pv (pvencctl with its config) and meta
# (IMAGE KEY -> value), and may define cw_kms_orphans (the KMS-held DEKs that no image
# names, for a KMS that keeps them) and cw_kms_gone UUID (true when the KMS holds
# nothing of that volume any more).

# crash_steps CMD...: the crash points CMD passes, in order
crash_steps() {
	local t
	t=$(mktemp)
	PVENC_CRASH_TRACE=$t "$@" >/dev/null 2>&1
	awk '!seen[$0]++' "$t"
	rm -f "$t"
}

# crash_at STEP CMD...: true when CMD was killed -9 at STEP
crash_at() {
	PVENC_CRASH_AT=$1 "${@:2}" >/dev/null 2>&1
	[ $? -eq 137 ]
}

# unlock_lease IMAGE: what an operator does for a dead node's rotation lock
unlock_lease() {
	local pool=${1%%/*} id lk
	id=$(rbd info "$1" --format json | jq -r .id)
	lk=$(rados -p "$pool" lock info "rbd_header.$id" pvenc.rotate --format json 2>/dev/null |
		jq -r '.lockers[0] | "\(.name) \(.cookie)"')
	[ -n "$lk" ] && [ "$lk" != "null null" ] || return 0
	rados -p "$pool" lock break "rbd_header.$id" pvenc.rotate "${lk% *}" --lock-cookie "${lk#* }"
}

# crash_walk_create KMS PREFIX: a create killed at each step is finished by format
# and its DEK opens its header; with CW_KMS_KEEPS=1 (the KMS keeps DEKs) the format
# takes the UUID the create reserved, whose DEK the KMS may already hold (an envelope
# KMS's format takes a new one: nothing of the old one is kept anywhere).
crash_walk_create() {
	local kms=$1 pre=$2 steps step n=0 ok st u0 r o=""
	steps=$(crash_steps pv create "rbd/$pre-trace" --size 20M --kms "$kms")
	tap_check "$kms: create passes its crash points ($(echo $steps))" test "$(wc -w <<<"$steps")" -ge 4
	for step in $steps; do
		n=$((n + 1)) ok=0
		if crash_at "$step" pv create "rbd/$pre-c$n" --size 20M --kms "$kms"; then
			st=$(meta "rbd/$pre-c$n" pvenc.state) u0=$(meta "rbd/$pre-c$n" pvenc.uuid) r=0
			case $st in
			formatted) ;;
			prepared) o=$(pv format "rbd/$pre-c$n" 2>&1) || r=1 ;;
			*) o=$(pv format "rbd/$pre-c$n" --kms "$kms" 2>&1) || r=1 ;;
			esac
			[ "$r" = 0 ] && [ "$(meta "rbd/$pre-c$n" pvenc.state)" = formatted ] &&
				{ [ -z "$u0" ] || [ "${CW_KMS_KEEPS:-0}" = 0 ] || [ "$(meta "rbd/$pre-c$n" pvenc.uuid)" = "$u0" ]; } &&
				o=$(pv verify "rbd/$pre-c$n" 2>&1) && ok=1
		fi
		[ "$ok" = 1 ] && tap_ok "$kms: create killed -9 at $step: finished by format, its DEK opens it" ||
			{ tap_fail "$kms: create killed -9 at $step: not recovered (state '$st')"; printf '%s\n' "$o" | sed 's/^/#   /'; }
	done
	if declare -F cw_kms_orphans >/dev/null; then
		local orphans
		orphans=$(cw_kms_orphans)
		tap_check "$kms: after the create walk no DEK in the KMS that no image names (${orphans:-none})" test -z "$orphans"
	fi
}

# crash_walk_rotate KMS IMAGE ARGS...: `rotate ARGS IMAGE` killed at each step leaves a
# volume that opens; once the dead process's lease is broken, rotate finishes it.
crash_walk_rotate() {
	local kms=$1 img=$2 steps step ok o
	shift 2
	steps=$(crash_steps pv rotate "$@" "$img")
	forget_dead "$img"
	tap_check "$kms: rotate $* passes its crash points ($(echo $steps))" test "$(wc -w <<<"$steps")" -ge 2
	for step in $steps; do
		ok=0 o="killed elsewhere"
		if crash_at "$step" pv rotate "$@" "$img"; then
			forget_dead "$img"
			o=$(pv verify "$img" 2>&1)
			if [ $? -le 1 ]; then
				unlock_lease "$img"
				o=$(pv rotate "$@" "$img" 2>&1) && o=$(pv verify "$img" 2>&1) &&
					o="pvenc.dek-next left: $(meta "$img" pvenc.dek-next || true)" &&
					[ -z "$(meta "$img" pvenc.dek-next)" ] && ok=1
			fi
		fi
		[ "$ok" = 1 ] && tap_ok "$kms: rotate $* killed -9 at $step: opens; the next rotate finishes cleanly" ||
			{ tap_fail "$kms: rotate $* killed -9 at $step: not recovered"; printf '%s\n' "$o" | sed 's/^/#   /'; }
	done
}

# crash_walk_delete KMS PREFIX: a delete killed at each step has removed the image, and
# a second delete removes what is left (the KMS's part, the trash entry).
crash_walk_delete() {
	local kms=$1 pre=$2 steps step n=0 ok u
	pv create "rbd/$pre-dtrace" --size 20M --kms "$kms" >/dev/null 2>&1
	steps=$(crash_steps pv delete "rbd/$pre-dtrace" --force "rbd/$pre-dtrace")
	tap_check "$kms: delete passes its crash points ($(echo $steps))" test "$(wc -w <<<"$steps")" -ge 1
	for step in $steps; do
		n=$((n + 1)) ok=0
		pv create "rbd/$pre-d$n" --size 20M --kms "$kms" >/dev/null 2>&1
		u=$(meta "rbd/$pre-d$n" pvenc.uuid)
		if crash_at "$step" pv delete "rbd/$pre-d$n" --force "rbd/$pre-d$n"; then
			! rbd info "rbd/$pre-d$n" >/dev/null 2>&1 &&
				pv delete "rbd/$pre-d$n" --force "rbd/$pre-d$n" >/dev/null 2>&1 &&
				! rbd trash ls --format json | jq -e ".[] | select(.name == \"$pre-d$n\")" >/dev/null &&
				{ ! declare -F cw_kms_gone >/dev/null || cw_kms_gone "$u"; } && ok=1
		fi
		[ "$ok" = 1 ] && tap_ok "$kms: delete killed -9 at $step: the image is gone; delete again finishes" ||
			tap_fail "$kms: delete killed -9 at $step: not finished by a second delete"
	done
}
