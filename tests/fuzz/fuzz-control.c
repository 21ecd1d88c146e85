// SPDX-License-Identifier: MIT
/* libFuzzer target: control-socket request lines (the agent's only local input). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request req;
	char *line = malloc(size + 1), err[256];

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	memset(&req, 0, sizeof(req));
	(void)ctl_parse_request(line, size, &req, err, sizeof(err));
	(void)ctl_rbd_index(line);
	free(line);
	return 0;
}
