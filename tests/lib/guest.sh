# Source from a guest test (tests/guest/*.test). On the host it re-runs the calling
# script inside the QEMU guest (tests/guest/run-guest) and exits with its status;
# inside the guest it sets up the helpers below.
if [ -z "${PVENC_IN_GUEST:-}" ]; then
	exec "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/guest/run-guest" "$0" "$@"
fi
# shellcheck source=tests/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# PVENC_GUEST_XTRACE=1 (with PVENC_GUEST_KEEP=1): a timestamped trace of the test
# script in the results share's xtrace file, to see where a slow test spends its time.
if [ -n "${PVENC_GUEST_XTRACE:-}" ]; then
	exec {xtrace_fd}>/share/xtrace
	BASH_XTRACEFD=$xtrace_fd
	PS4='+ $EPOCHREALTIME ${BASH_SOURCE[0]##*/}:${LINENO}: '
	set -x
fi

# udevd: rbd map waits for udev to announce the device (Ceph's 50-rbd.rules).
guest_start_udev() {
	/lib/systemd/systemd-udevd --daemon --resolve-names=never
	# No coldplug trigger: tests only need events for devices they create (rbd, dm),
	# and replaying every boot device costs seconds under TCG.
	udevadm settle --timeout=30
	on_exit "udevadm control --exit"
}

# systemd-journald without systemd as PID 1 (for tests that check what reaches the
# journal): it needs a machine id and a cgroup2 mount.
guest_start_journald() {
	[ -s /etc/machine-id ] || systemd-id128 new >/etc/machine-id
	mkdir -p /run/systemd/journal /run/log/journal
	mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup || return 1
	/lib/systemd/systemd-journald >/run/journald.log 2>&1 &
	wait_for 20 test -S /run/systemd/journal/stdout
}

guest_modprobe() {
	local m
	for m in "$@"; do
		modprobe "$m" || { echo "# modprobe $m failed" >&2; return 1; }
	done
}

# Routes 127.0.0.2 to the host through QEMU's user network (run-guest's -netdev user):
# 127.0.0.1 stays the guest's own, the rest of 127/8 leaves by eth0, and QEMU connects
# to the same address on the host's loopback.
guest_route_host_loopback() {
	local dev=""
	modprobe virtio_net || return 1
	# udevd may rename eth0 (ens3): take the one interface that is not lo.
	udevadm settle --timeout=10
	dev=$(ls /sys/class/net | grep -vx lo | head -n 1)
	[ -n "$dev" ] || return 1
	ip link set lo up
	ip link set "$dev" up || return 1
	ip addr add 10.0.2.15/24 dev "$dev"
	sysctl -qw net.ipv4.conf.all.route_localnet=1 "net.ipv4.conf.$dev.route_localnet=1"
	ip route del local 127.0.0.0/8 dev lo table local
	ip route replace local 127.0.0.1 dev lo table local
	ip route add 127.0.0.2/32 via 10.0.2.2 dev "$dev"
}

# The cluster that run-guest starts on the host (PVENC_GUEST_CEPH=host, the default):
# ask for it, route to it while it starts, and take a copy of its client files.
guest_host_ceph() {
	local d=/run/ceph-test host_d
	printf 'bytes=%s\nwatch=%s\n' "${PVENC_CEPH_BYTES:-2147483648}" \
		"${PVENC_CEPH_WATCH_TIMEOUT:-30}" >/share/ceph.request.tmp
	mv /share/ceph.request.tmp /share/ceph.request
	guest_route_host_loopback || { echo "# no route to the host's loopback" >&2; return 1; }
	wait_for 120 test -e /share/ceph.ready -o -e /share/ceph.failed
	if [ ! -e /share/ceph.ready ]; then
		cat /share/ceph.out >&2 2>/dev/null
		return 1
	fi
	# The host's paths (keyring, logs, run dir) become the guest's own writable copy.
	host_d=$(sed -n 's/^keyring = \(.*\)\/\$name.keyring$/\1/p' /share/ceph/ceph.conf)
	mkdir -p "$d/run"
	cp /share/ceph/client.admin.keyring "$d/"
	sed "s|$host_d|$d|g" /share/ceph/ceph.conf >"$d/ceph.conf"
	export CEPH_CONF=$d/ceph.conf
}

# Starts the throwaway cluster and exports CEPH_CONF; stopped on exit.
guest_start_ceph() {
	local conf
	[ "${PVENC_GUEST_CEPH:-guest}" != host ] || { guest_host_ceph; return; }
	# krbd pings its watches every 5 s (libceph's osd_keepalive_timeout). With the host's
	# 5 s watch timeout a slow TCG guest loses its watch, librbd breaks krbd's exclusive
	# lock and blocklists it (ESHUTDOWN on map, aborted ext4 journal): keep Ceph's 30 s.
	conf=$(PVENC_CEPH_WATCH_TIMEOUT=${PVENC_CEPH_WATCH_TIMEOUT:-30} \
		"$PVENC_TOP/tests/lib/ceph-cluster" start /run/ceph-test) || return 1
	export CEPH_CONF=$conf
	# No stop: the guest powers off when the test ends, and stopping the daemons
	# gracefully costs seconds under TCG.
}

# cephq_start, then cephq REQUEST ARGS...: one Ceph client for the rest of the test
# (tests/lib/cephq), for metadata reads in loops where an rbd CLI call each would cost
# a second under TCG. Command substitutions may call cephq; pipelines and background
# jobs may not (bash gives coprocess descriptors only to command and process
# substitutions): take the answer into a variable first.
cephq_start() {
	coproc CEPHQ { exec /usr/bin/python3 "$PVENC_TOP/tests/lib/cephq" 2>>/run/cephq.err; }
}
cephq() {
	local IFS=$'\t' answer
	printf '%s\n' "$*" >&"${CEPHQ[1]}" || return 1
	IFS= read -r answer <&"${CEPHQ[0]}" || return 1
	printf '%s\n' "$answer"
}
