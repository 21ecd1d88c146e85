// SPDX-License-Identifier: MIT
#include "daemon/retry.h"

#include <errno.h>

enum retry_class retry_class(int r)
{
	switch (r) {
	case -ENOMSG: /* no encryption metadata: a plain image */
		return RETRY_IGNORE;
	case -EPERM: /* the DEK opens no keyslot, or the KMS endpoint changed */
	case -EKEYREJECTED: /* the KMS refused the key or credentials for good (PIN) */
	case -EBADMSG: /* metadata, wrapped DEK or KMS answer malformed */
	case -ESTALE: /* header UUID is not the volume's, or the image id changed */
	case -EMEDIUMTYPE: /* the LUKS2 header is not one pvenc (or ceph-csi) makes */
	case -EINVAL:
	case -ENAMETOOLONG:
	case -ENOTEMPTY:
	case -EEXIST: /* the dm name is in use over another device */
	case -ENODEV:
	case -EOPNOTSUPP:
		return RETRY_FAIL;
	default: /* EAGAIN, ETIMEDOUT, ECONNREFUSED, EIO, EACCES, ENOENT, ENOKEY, ... */
		return RETRY_AGAIN;
	}
}

unsigned retry_backoff(int attempts, int max_s, uint32_t rnd)
{
	unsigned base;

	if (attempts < 1)
		attempts = 1;
	base = 1u << (attempts > 16 ? 16 : attempts - 1);
	if (max_s > 0 && base > (unsigned)max_s)
		base = (unsigned)max_s;
	return base * (80 + rnd % 41) / 100 + 1;
}
