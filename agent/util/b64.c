// SPDX-License-Identifier: MIT
#include "util/b64.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "util/secmem.h"

size_t b64_encoded_size(size_t len)
{
	return (len + 2) / 3 * 4 + 1;
}

size_t b64_encode(const uint8_t *in, size_t len, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

static int is_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int b64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	_cleanup_secmem_ uint8_t *tmp = NULL;
	size_t pad = 0, outlen;
	int n;

	if (inlen % 4 != 0 || inlen > (size_t)1 << 20)
		return -EINVAL;
	if (inlen == 0)
		return 0;
	/* EVP_DecodeBlock accepts whitespace and odd padding; be strict first. */
	for (size_t i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '=') {
			if (i < inlen - 2)
				return -EINVAL;
			pad++;
		} else if (!is_b64_char(c) || pad) {
			return -EINVAL;
		}
	}
	outlen = inlen / 4 * 3 - pad;
	if (outlen > cap)
		return -ENOSPC;
	/* The decoder writes whole 3-byte groups: decode into scratch secret memory. */
	tmp = secmem_alloc(inlen / 4 * 3);
	if (!tmp)
		return -ENOMEM;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)inlen);
	if (n < 0 || (size_t)n != inlen / 4 * 3)
		return -EINVAL;
	memcpy(out, tmp, outlen);
	return (int)outlen;
}

int b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap)
{
	_cleanup_secmem_ char *std = NULL;

	if (inlen > (size_t)1 << 20)
		return -EINVAL;
	std = secmem_alloc(inlen + 1);
	if (!std)
		return -ENOMEM;
	for (size_t i = 0; i < inlen; i++) {
		char c = in[i];

		if (c == '+' || c == '/')
			return -EINVAL;
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		std[i] = c;
	}
	return b64_decode(std, inlen, out, cap);
}
