// SPDX-License-Identifier: MIT
#include "util/formenc.h"

#include <errno.h>

int form_encode(const char *s, char *out, size_t cap)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			if (o + 1 >= cap)
				return -ENOBUFS;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= cap)
				return -ENOBUFS;
			out[o++] = '%';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		}
	}
	if (o >= cap)
		return -ENOBUFS;
	out[o] = '\0';
	return 0;
}
