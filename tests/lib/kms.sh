# Start and stop the KMS servers used by tests, on loopback only. Source after common.sh.
#   kms_vault_start CONFIG [CERTDIR]  -> VAULT_ADDR (+ VAULT_CACERT with CERTDIR)
#   kms_kmip_start DIR                -> KMIP_PORT, KMIP_DIR (certs in DIR)
#   kms_softhsm_init DIR              -> SOFTHSM2_CONF, PKCS11_MODULE, token "pvenc-test"
# Each server is stopped at exit by the on_exit registry.

kms_vault_start() {
	local cfg=$1 certs=${2:-} d ready pid
	d=$(scratch_dir)
	ready=$d/ready
	local tls=()
	if [ -n "$certs" ]; then
		tls=(--tls-cert "$certs/server.crt" --tls-key "$certs/server.key"
			--tls-client-ca "$certs/ca.crt")
	fi
	"$PVENC_TOP/tests/kms/vault-server" --config "$cfg" --ready-file "$ready" "${tls[@]}" \
		2>"$d/log" &
	pid=$!
	on_exit "kill $pid"
	wait_for 60 test -s "$ready" || { echo "# vault-server did not start:"; sed 's/^/#   /' "$d/log"; return 1; }
	VAULT_ADDR=$(cat "$ready")
	VAULT_PID=$pid
	export VAULT_ADDR VAULT_PID
	[ -z "$certs" ] || export VAULT_CACERT=$certs/ca.crt
}

kms_kmip_start() {
	local d=$1 port pid
	mkdir -p "$d/policies"
	[ -f "$d/ca.crt" ] || "$PVENC_TOP/tests/kms/mkcerts" "$d" >/dev/null
	port=$(free_port)
	cat >"$d/server.conf" <<CONF
[server]
hostname=127.0.0.1
port=$port
certificate_path=$d/server.crt
key_path=$d/server.key
ca_path=$d/ca.crt
auth_suite=TLS1.2
policy_path=$d/policies
enable_tls_client_auth=True
logging_level=INFO
database_path=$d/pykmip.db
CONF
	# Own session: the server forks a process per connection; stop the whole group.
	setsid /usr/bin/pykmip-server -f "$d/server.conf" -l "$d/server.log" >"$d/stdout.log" 2>&1 &
	pid=$!
	# It only sees SIGTERM after accept() times out: give it a moment, then SIGKILL.
	on_exit "kill -- -$pid; sleep 0.3; kill -9 -- -$pid"
	# PyKMIP took 28 s to listen in a quiet TCG guest, over 60 s beside two other guests.
	wait_for 180 sh -c "ss -Hltn 'sport = :$port' | grep -q ." ||
		{ echo "# pykmip-server did not start:"; tail -n 20 "$d/server.log" "$d/stdout.log" | sed 's/^/#   /'; return 1; }
	KMIP_PORT=$port
	KMIP_DIR=$d
	KMIP_PID=$pid
	export KMIP_PORT KMIP_DIR KMIP_PID
}

kms_softhsm_init() {
	local d=$1
	mkdir -p "$d/tokens"
	cat >"$d/softhsm2.conf" <<CONF
directories.tokendir = $d/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
	export SOFTHSM2_CONF=$d/softhsm2.conf
	PKCS11_MODULE=$(for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so; do
		[ -f "$m" ] && { echo "$m"; break; }; done)
	export PKCS11_MODULE
	# Test-only PINs; the product reads its PIN from a file, never argv.
	printf '%s' 1234 >"$d/pin"
	chmod 0600 "$d/pin"
	softhsm2-util --init-token --free --label pvenc-test --pin 1234 --so-pin 5678 >/dev/null
}
