#!/usr/bin/env bash
# Runs inside the demo guest (see ci/demo).
set -euo pipefail
. "$PVENC_TOP/tests/lib/guest.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "What this demo shows today"
cat <<'TXT'
pvenc is being built issue by issue. This demo runs the kernel path pvenc drives, by
hand: Ceph krbd, a logon key in the kernel keyring, a dm-crypt table that references
it. The automatic open on `rbd map` (pvenc-agent + udev) is not implemented yet and is
not shown.
TXT

say "Starting a throwaway Ceph cluster inside the guest"
guest_modprobe dm-crypt rbd
guest_start_udev
guest_start_ceph
rbd create rbd/demo --size 64M
dev=$(rbd map rbd/demo)
echo "rbd map rbd/demo -> $dev"

say "A 512-bit key from the kernel CSPRNG, as a logon key (unreadable from userspace)"
kid=$(head -c 64 /dev/urandom | keyctl padd logon pvenc:demo @u)
keyctl rdescribe "$kid"
sectors=$(blockdev --getsz "$dev")
dmsetup create pvenc-demo --table "0 $sectors crypt aes-xts-plain64 :64:logon:pvenc:demo 0 $dev 0 1 allow_discards"
dmsetup table pvenc-demo

say "Writing text through the decrypted device"
printf 'Hello from pvenc: this sentence is stored encrypted on Ceph.\n' |
	dd of=/dev/mapper/pvenc-demo bs=4096 conv=sync oflag=direct status=none
echo "decrypted view:"
dd if=/dev/mapper/pvenc-demo bs=4096 count=1 iflag=direct status=none | head -c 64 | xxd | head -4
echo "raw rbd image (ciphertext):"
dd if="$dev" bs=4096 count=1 iflag=direct status=none | head -c 64 | xxd | head -4

say "Cleaning up"
dmsetup remove pvenc-demo
keyctl unlink "$kid" @u >/dev/null
rbd unmap "$dev"
echo "done"
