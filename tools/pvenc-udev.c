// SPDX-License-Identifier: MIT
/*
 * pvenc-udev: what udev rules call; it must be quick, need no network, and never fail
 * the event (udev's RUN is for short foreground work; see Documentation/agent.md).
 *   pvenc-udev add|change|remove rbdN   hand the event to pvenc-agent and return
 *   pvenc-udev name dm-N                print POOL/[NS/]IMAGE[@SNAP] of a pvenc mapping
 *                                       (for SYMLINK+="pvenc/%c")
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control/proto.h"
#include "util/config.h"
#include "util/fileio.h"
#include "util/log.h"
#include "store/krbd.h"

static int event(const char *action, const char *dev)
{
	struct json_object *req, *ans = NULL;
	struct pvenc_config cfg;
	char err[256];
	int r;

	if (config_load(PVENC_CONFIG_DEFAULT, 0, &cfg, err, sizeof(err)) < 0)
		config_defaults(&cfg);
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("event"));
	json_object_object_add(req, "action", json_object_new_string(action));
	json_object_object_add(req, "device", json_object_new_string(dev));
	r = ctl_call(cfg.agent_socket, req, 3000, &ans);
	json_object_put(req);
	json_object_put(ans);
	/* No agent: it scans mapped devices when it starts, so nothing is lost. */
	if (r < 0)
		log_debug("event %s %s not delivered: %s", action, dev, strerror(-r));
	return 0;
}

static int name(const char *dm)
{
	char path[300], val[256];
	struct krbd_dev d;
	struct dirent *de;
	DIR *dir;
	int id = -1;

	if (strncmp(dm, "dm-", 3) != 0 || strchr(dm, '/'))
		return 1;
	(void)snprintf(path, sizeof(path), "/sys/block/%s/dm/name", dm);
	if (read_line(path, val, sizeof(val)) < 0 || strncmp(val, "pvenc-", 6) != 0)
		return 1;
	(void)snprintf(path, sizeof(path), "/sys/block/%s/slaves", dm);
	dir = opendir(path);
	if (!dir)
		return 1;
	while ((de = readdir(dir)))
		if ((id = ctl_rbd_index(de->d_name)) >= 0)
			break;
	closedir(dir);
	if (id < 0 || krbd_dev_from_id(id, &d) < 0)
		return 1;
	if (image_spec_format(&d.spec, val, sizeof(val)) < 0)
		return 1;
	(void)printf("%s\n", val);
	return 0;
}

int main(int argc, char **argv)
{
	log_set_ident("pvenc-udev");
	if (argc == 3 && !strcmp(argv[1], "name"))
		return name(argv[2]);
	if (argc == 3 &&
	    (!strcmp(argv[1], "add") || !strcmp(argv[1], "change") || !strcmp(argv[1], "remove")) &&
	    !strncmp(argv[2], "rbd", 3))
		return event(argv[1], argv[2]);
	(void)fprintf(stderr, "Usage: pvenc-udev add|change|remove rbdN\n"
			      "       pvenc-udev name dm-N\n");
	return 2;
}
