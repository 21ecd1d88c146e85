# Source from a guest test (tests/guest/*.test). On the host it re-runs the calling
# script inside the QEMU guest (tests/guest/run-guest) and exits with its status;
# inside the guest it sets up the helpers below.
if [ -z "${PVENC_IN_GUEST:-}" ]; then
	exec "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/guest/run-guest" "$0" "$@"
fi

PVENC_TOP=${PVENC_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=tests/lib/tap.sh
. "$PVENC_TOP/tests/lib/tap.sh"

_guest_cleanups=()
guest_on_exit() { _guest_cleanups=("$*" "${_guest_cleanups[@]}"); }
_guest_exit() {
	local rc=$? c
	# Teardown of whatever a failing test left behind; a passing test has undone it.
	for c in "${_guest_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
	exit "$rc"
}
trap _guest_exit EXIT

# udevd: rbd map waits for udev to announce the device (Ceph's 50-rbd.rules).
guest_start_udev() {
	/lib/systemd/systemd-udevd --daemon --resolve-names=never
	udevadm trigger --action=add >/dev/null 2>&1 || true
	udevadm settle --timeout=30
	guest_on_exit "udevadm control --exit"
}

guest_modprobe() {
	local m
	for m in "$@"; do
		modprobe "$m" || { echo "# modprobe $m failed" >&2; return 1; }
	done
}

# Starts the throwaway cluster and exports CEPH_CONF; stopped on exit.
guest_start_ceph() {
	local conf
	conf=$("$PVENC_TOP/tests/lib/ceph-cluster" start /run/ceph-test) || return 1
	export CEPH_CONF=$conf
	guest_on_exit "'$PVENC_TOP/tests/lib/ceph-cluster' stop /run/ceph-test"
}
