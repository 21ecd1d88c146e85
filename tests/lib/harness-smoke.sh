# The test environment end to end, before any pvenc code runs (sourced by guest 20,
# after guest_start_ceph): krbd and udev, a logon key in the kernel keyring, a dm-crypt
# table over /dev/rbdN that references it, data round trip, ciphertext on the raw
# device, clean teardown. A failure here means the harness, not pvenc, is broken.
harness_smoke() {
	local dev kid sectors table plain
	tap_check "rbd create" rbd create rbd/smoke --size 64M
	dev=$(rbd map rbd/smoke) && [ -b "$dev" ] && tap_ok "rbd map gives $dev" ||
		{ tap_fail "rbd map"; return 1; }
	tap_check "udev made /dev/rbd/rbd/smoke" test -L /dev/rbd/rbd/smoke

	# 512-bit aes-xts key straight from the kernel CSPRNG into the keyring; never on disk.
	kid=$(head -c 64 /dev/urandom | keyctl padd logon pvenc:smoke @u)
	tap_check "logon key added to the user keyring" test -n "$kid"
	tap_check "key type is logon" sh -c "keyctl rdescribe $kid | grep -q '^logon;'"
	tap_check_fails "logon key payload is not readable from userspace" keyctl print "$kid"

	sectors=$(blockdev --getsz "$dev")
	table="0 $sectors crypt aes-xts-plain64 :64:logon:pvenc:smoke 0 $dev 0 1 allow_discards"
	tap_check "dmsetup create crypt table over $dev" dmsetup create pvenc-smoke --table "$table"
	tap_check "table references the keyring key" sh -c "dmsetup table pvenc-smoke | grep -q ':64:logon:pvenc:smoke'"

	# Plaintext: a recognisable marker repeated over 4 MiB.
	plain=/run/plain
	yes 'PVENC-PLAINTEXT-MARKER-0123456789' | head -c $((4 << 20)) >"$plain"
	tap_check "write through dm-crypt" dd if="$plain" of=/dev/mapper/pvenc-smoke bs=1M oflag=direct status=none
	sync
	echo 3 >/proc/sys/vm/drop_caches
	tap_check "read back equals what was written" cmp -n $((4 << 20)) "$plain" /dev/mapper/pvenc-smoke
	if dd if="$dev" bs=1M count=4 iflag=direct status=none | grep -q 'PVENC-PLAINTEXT-MARKER'; then
		tap_fail "raw rbd device holds ciphertext only"
	else
		tap_ok "raw rbd device holds ciphertext only"
	fi
	tap_check_fails "raw device differs from plaintext" cmp -s -n $((4 << 20)) "$plain" "$dev"

	tap_check "dmsetup remove" dmsetup remove pvenc-smoke
	tap_check "keyctl unlink" keyctl unlink "$kid" @u
	tap_check "rbd unmap" rbd unmap "$dev"
	tap_check "no dm mappings left" sh -c '! dmsetup ls | grep -q pvenc-smoke'
}
