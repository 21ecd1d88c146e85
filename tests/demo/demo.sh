#!/usr/bin/env bash
# Runs inside the demo guest (see ci/demo): a throwaway Ceph cluster and Vault KMS,
# an encrypted volume created and opened by pvencctl, data readable through the
# decrypted device and ciphertext on the raw image.
set -euo pipefail
. "$PVENC_TOP/tests/lib/guest.sh"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
pv="$PVENC_TOP/build/rel/pvencctl"

say "pvenc demo (a Debian kernel under QEMU; nothing here touches the host)"
cat <<'TXT'
Shown: pvencctl creates an encrypted RBD volume (envelope encryption: a random DEK,
wrapped by a Vault Transit key that never leaves Vault); `rbd map` alone opens it (udev hands the event to pvenc-agent) as
/dev/pvenc/rbd/demo; data goes through the decrypted device and only ciphertext
reaches the raw image.
TXT

say "A throwaway Ceph cluster (1 mon, 1 memstore osd, cephx) inside the guest"
guest_modprobe dm-crypt rbd
mkdir -p /etc/udev/rules.d
sed "s|/usr/sbin/pvenc-udev|$PVENC_TOP/build/rel/pvenc-udev|g" "$PVENC_TOP/udev/60-pvenc.rules" >/etc/udev/rules.d/60-pvenc.rules
guest_start_udev
guest_start_ceph
echo "cluster ready: $CEPH_CONF"

say "A KMS: Vault Transit (pvenc's Vault-compatible test server, TLS, in the guest)"
. "$PVENC_TOP/tests/lib/kms.sh"
mkdir -p /etc/pvenc/secrets/vault
"$PVENC_TOP/tests/kms/mkcerts" /etc/pvenc/vault-tls >/dev/null
kms_vault_start "$PVENC_TOP/tests/kms/vault-config.example.json" /etc/pvenc/vault-tls
# A token whose policy allows only transit/encrypt and transit/decrypt on one key.
install -m 0600 /dev/null /etc/pvenc/secrets/vault/token
printf transit-token >/etc/pvenc/secrets/vault/token
cat >/etc/pvenc/kms.json <<JSON
{"demo": {"encryptionKMSType": "vault-transit", "vaultAddress": "$VAULT_ADDR",
          "vaultCAFile": "/etc/pvenc/vault-tls/ca.crt", "vaultTransitKey": "pvenc-kek",
          "vaultTokenFile": "/etc/pvenc/secrets/vault/token"}}
JSON
cat /etc/pvenc/kms.json
run "$pv" kms check demo
# pvenc.ko (optional) gives pvenc-stat its per-volume counters; make modules builds it.
[ -f "$PVENC_TOP/kmod/pvenc.ko" ] && insmod "$PVENC_TOP/kmod/pvenc.ko" 2>/dev/null || true
say "Start pvenc-agent (systemd would: pvenc-agent.service)"
"$PVENC_TOP/build/rel/pvenc-agent" 2>/run/agent.log &
agent=$!
on_exit "kill $agent"
wait_for 20 test -S /run/pvenc/control
echo "pvenc-agent listening on /run/pvenc/control"

say "Create an encrypted volume"
echo "\$ pvencctl create rbd/demo --size 256M --kms demo"
"$pv" create rbd/demo --size 256M --kms demo
run rbd image-meta list rbd/demo

say "rbd map, and nothing else"
echo "\$ rbd map rbd/demo"
dev=$(rbd map rbd/demo)
echo "$dev"
wait_for 60 test -b /dev/pvenc/rbd/demo
dm=/dev/pvenc/rbd/demo
run ls -l /dev/pvenc/rbd/demo
echo "\$ pvencctl status rbd/demo"
"$pv" status rbd/demo
grep -E 'event=' /run/agent.log | sed 's/^/agent log: /'

say "A filesystem and a file on the decrypted device"
mkfs.ext4 -q "$dm"
mkdir -p /mnt/demo
mount "$dm" /mnt/demo
echo "Hello from pvenc: this sentence is stored encrypted on Ceph." >/mnt/demo/hello.txt
run cat /mnt/demo/hello.txt
umount /mnt/demo
say "pvenc-stat: the volume's encryption statistics"
run "$PVENC_TOP/build/rel/pvenc-stat"

say "The raw image: a LUKS2 header, then ciphertext only"
echo "\$ cryptsetup luksDump $dev"
cryptsetup luksDump "$dev" >/run/luksdump
sed -n '1,10p;/^Data segments/,/sector/p' /run/luksdump
if dd if="$dev" bs=1M iflag=direct status=none | grep -q "Hello from pvenc"; then
	echo "plaintext found on the raw image: this must not happen" >&2
	exit 1
fi
echo "searched all 256 MiB of $dev for the sentence: not found (ciphertext)"
echo "first bytes of the data area:"
dd if="$dev" bs=64 skip=$((16 << 20 >> 6)) count=1 status=none | xxd

say "pvencctl unmap, rbd map again: the device comes back with the file"
echo "\$ pvencctl unmap rbd/demo"
"$pv" unmap rbd/demo
dev=$(rbd map rbd/demo)
wait_for 60 test -b /dev/pvenc/rbd/demo
mount -o ro "$dm" /mnt/demo
run cat /mnt/demo/hello.txt
umount /mnt/demo
"$pv" unmap rbd/demo
say "Clean up: the image (through the RBD trash), its key material with it"
echo "\$ pvencctl delete rbd/demo --force rbd/demo"
"$pv" delete rbd/demo --force rbd/demo
run rbd ls
say "Done: the guest and everything in it are discarded now"
