/* SPDX-License-Identifier: MIT */
/* Standard base64 (RFC 4648, padded) over OpenSSL's EVP encoder. */
#ifndef PVENC_UTIL_B64_H
#define PVENC_UTIL_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length including the terminating NUL. */
size_t b64_encoded_size(size_t len);
/* Encode @len bytes into @out (b64_encoded_size(len) bytes); returns the text length. */
size_t b64_encode(const uint8_t *in, size_t len, char *out);
/* Decode strict padded base64 (no whitespace) into @out of @cap bytes.
 * Returns the decoded length, -EINVAL for malformed input, -ENOSPC if too long. */
int b64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);
/* Same for the URL-safe alphabet ('-' and '_'), padded, as ceph-csi writes it. */
int b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap);

#endif
