# Sourced by the boot scripts of tests/guest/80-systemd-node.test, which run inside the
# guest under systemd (pvenc-test.service). TAP lines go to /share/out; the boot ends
# with node_done (power off), node_reboot (systemctl reboot: a clean shutdown) or
# node_reset (sysrq b: power loss).
# shellcheck source=tests/lib/common.sh
. "$PVENC_TOP/tests/lib/common.sh"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
N=20 # volumes rbd/v1..v20, mounted on /srv/v1..v20

uptime_s() { cut -d. -f1 /proc/uptime; }

# node_rc: this boot's result for the host (0 when no check failed).
node_rc() { [ "$_tap_failed" -eq 0 ] && echo 0 || echo 1; }
node_done() {
	node_rc >/share/rc
	sync
	systemctl poweroff -ff
	sleep 60
}
node_reboot() {
	node_rc >/share/rc
	date +%s.%N >/share/reboot-at
	sync
	systemctl reboot
	exit 0
}
node_reset() {
	node_rc >/share/rc
	sync
	echo b >/proc/sysrq-trigger
	sleep 60
}

# count_mounted: how many /srv/vN are mounted from a decrypted pvenc device (one
# findmnt: process starts cost a tenth of a second each under TCG).
count_mounted() {
	findmnt -rn -o SOURCE,TARGET | awk '$2 ~ /^\/srv\/v[0-9]+$/ && $1 ~ /^\/dev\/mapper\/pvenc-/' | wc -l
}
all_mounted() { [ "$(count_mounted)" -eq "$N" ]; }
count_open() { # decrypted devices present
	local i n=0
	for i in $(seq 1 $N); do [ -b "/dev/pvenc/rbd/v$i" ] && n=$((n + 1)); done
	echo "$n"
}

# acked_ok BOOT8: every round the writer of boot BOOT8 acknowledged is in all four logs.
acked_ok() {
	local b=$1 last v
	last=$(awk -v b="$b" '$1 == b { n = $2 } END { print n + 0 }' /share/acked)
	[ "$last" -gt 0 ] || { echo "no round acknowledged in boot $b"; return 1; }
	for v in 1 2 3 4; do
		awk -v b="$b" -v last="$last" '$1 == b && $2 + 0 <= last { seen[$2 + 0] = 1 }
			END { for (i = 1; i <= last; i++) if (!seen[i]) { print "round " i " missing"; exit 1 } }' \
			"/srv/v$v/log" || { echo "/srv/v$v/log lacks acknowledged rounds of boot $b (last $last)"; return 1; }
	done
	echo "all $last acknowledged rounds of boot $b are on the four volumes"
}

# Writer rounds acknowledged in this boot so far.
acked_now() { awk -v b="$(cut -c1-8 /proc/sys/kernel/random/boot_id)" '$1 == b { n = $2 } END { print n + 0 }' /share/acked 2>/dev/null; }

dump_state() {
	echo "# --- state at $(uptime_s)s of uptime"
	systemctl --no-pager status pvenc-agent rbdmap pvenc-shutdown 2>&1 | sed 's/^/#   /' | head -n 40
	journalctl -b -u pvenc-agent --no-pager -n 30 2>&1 | sed 's/^/#   /'
	systemctl list-jobs --no-pager 2>&1 | sed 's/^/#   /' | head -n 20
}
opened_all() { [ "$(count_open)" -eq "$N" ]; }
acked_at_least() { [ "$(acked_now)" -ge "$1" ]; }
