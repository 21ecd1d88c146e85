// SPDX-License-Identifier: MIT
/*
 * pvenc-agent: opens encrypted RBD volumes when they are mapped (udev hands it the
 * events), serves pvencctl over /run/pvenc/control, and retries opens while the KMS
 * or the cluster is away. Runs in the foreground; systemd Type=notify.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "daemon/agent.h"
#include "kms/kms.h"
#include "util/config.h"
#include "util/log.h"
#include "util/secmem.h"

static void usage(FILE *f)
{
	(void)fprintf(f,
		      "Usage: pvenc-agent [OPTIONS]\n\n"
		      "Open encrypted RBD volumes when they are mapped, and serve pvencctl.\n\n"
		      "Options:\n"
		      "  -c, --config FILE   pvenc.conf (default " PVENC_CONFIG_DEFAULT ")\n"
		      "  -s, --socket PATH   control socket (default: [agent] "
		      "socket, " PVENC_SOCKET_DEFAULT ")\n"
		      "  -j, --jobs N        volume operations at once (default: [agent] jobs, 8)\n"
		      "  -v, --verbose       debug logging\n"
		      "  -h, --help          show this help\n"
		      "      --version       print the version\n");
}

/* What the process is before it does anything: keys pass through it. */
static void process_setup(void)
{
	struct rlimit no_core = { 0, 0 };
	int r;

	/* No core dumps, no ptrace by other users, no page in swap. */
	(void)setrlimit(RLIMIT_CORE, &no_core);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	r = secmem_lock_all();
	/* glibc gives each thread that allocates its own arena (8 workers plus librados'
	 * threads); two arenas keep an idle agent's private memory 30 % smaller (measured
	 * 14.5 -> 10.3 MiB with 48 volumes, Documentation/performance.md), and the agent
	 * allocates too little for the contention to show. */
	(void)mallopt(M_ARENA_MAX, 2);
	/* A KMS that resets the connection must give an error, not kill us (TLS writes
	 * through OpenSSL's socket BIO would raise SIGPIPE). */
	(void)signal(SIGPIPE, SIG_IGN);
	log_set_ident("pvenc-agent");
	if (r < 0)
		log_notice("event=memory-not-locked error=\"%s\" msg=\"without CAP_IPC_LOCK, pages "
			   "that held keys in libcurl, OpenSSL or json-c may reach swap\"",
			   strerror(-r));
}

/* The command line: -c, -s, -j, -v; 0 to run, 1 to exit with @exit_code. */
struct cmdline {
	const char *config, *sock;
	int jobs;
};

static int parse_cmdline(int argc, char **argv, struct cmdline *cl, int *exit_code)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*exit_code = 1;
	while ((c = getopt_long(argc, argv, "c:s:j:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cl->config = optarg;
			break;
		case 's':
			cl->sock = optarg;
			break;
		case 'j':
			errno = 0;
			cl->jobs = (int)strtol(optarg, &end, 10);
			if (errno || *end || cl->jobs < 1 || cl->jobs > 256) {
				log_error("--jobs must be 1..256");
				return 1;
			}
			break;
		case 'v':
			log_set_max_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			*exit_code = 0;
			return 1;
		case 'V':
			(void)printf("pvenc-agent %s\n", PVENC_VERSION);
			*exit_code = 0;
			return 1;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cmdline cl = { 0 };
	struct pvenc_config cfg;
	struct agent *a = NULL;
	sigset_t mask;
	char err[512];
	int r, exit_code;

	process_setup();
	if (parse_cmdline(argc, argv, &cl, &exit_code))
		return exit_code;
	r = config_load(cl.config ? cl.config : PVENC_CONFIG_DEFAULT, cl.config != NULL, &cfg, err,
			sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return 1;
	}
	if (cl.sock) {
		if (cl.sock[0] != '/' || strlen(cl.sock) >= sizeof(cfg.agent_socket)) {
			log_error("--socket must be an absolute path shorter than %zu bytes",
				  sizeof(cfg.agent_socket));
			return 1;
		}
		(void)snprintf(cfg.agent_socket, sizeof(cfg.agent_socket), "%s", cl.sock);
	}
	if (cl.jobs)
		cfg.jobs = cl.jobs;
	/* Block the signals agent_run reads from a signalfd before any thread exists, so
	 * that every thread inherits the mask and none dies of SIGTERM mid-job. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	/* Renew Vault tokens read from files between opens. */
	kms_agent_mode();
	r = agent_new(&cfg, cl.config, &a);
	if (r == 0)
		r = agent_start(a);
	if (r == 0)
		r = agent_run(a);
	agent_free(a);
	kms_cleanup();
	return r < 0 ? 1 : 0;
}
