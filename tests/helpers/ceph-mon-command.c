// SPDX-License-Identifier: MIT
/*
 * Test helper: sends monitor commands through librados, as `ceph` does, without the
 * Python CLI's start-up cost (seconds per call in a TCG guest).
 *   ceph-mon-command CEPH_CONF JSON...   e.g. '{"prefix":"osd create"}'
 * Prints each command's output; exit 0, or 1 with the error on stderr.
 */
#include <rados/librados.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	rados_t c;
	int r;

	if (argc < 3) {
		(void)fprintf(stderr, "usage: ceph-mon-command CEPH_CONF JSON...\n");
		return 2;
	}
	r = rados_create(&c, NULL);
	if (r == 0)
		r = rados_conf_read_file(c, argv[1]);
	if (r == 0)
		r = rados_conf_set(c, "client_mount_timeout", "60");
	if (r == 0)
		r = rados_connect(c);
	if (r < 0) {
		(void)fprintf(stderr, "ceph-mon-command: cannot connect: %s\n", strerror(-r));
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		const char *cmd[] = { argv[i] };
		char *outbuf = NULL, *outs = NULL;
		size_t outlen = 0, outslen = 0;

		r = rados_mon_command(c, cmd, 1, "", 0, &outbuf, &outlen, &outs, &outslen);
		if (outlen)
			(void)printf("%.*s\n", (int)outlen, outbuf);
		if (r < 0)
			(void)fprintf(stderr, "ceph-mon-command: %s: %s (%.*s)\n", argv[i],
				      strerror(-r), (int)outslen, outs ? outs : "");
		rados_buffer_free(outbuf);
		rados_buffer_free(outs);
		if (r < 0)
			break;
	}
	rados_shutdown(c);
	return r < 0 ? 1 : 0;
}
