// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"

/* What one log call prints on stderr (not under journald). */
static void capture(char *out, size_t len, const char *text)
{
	FILE *f = tmpfile();
	int saved = dup(2);
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);
	(void)fflush(stderr);
	assert_true(dup2(fileno(f), 2) == 2);
	log_error("kms said: %s", text);
	(void)fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	(void)close(saved);
	rewind(f);
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	(void)fclose(f);
}

/* Text from a KMS, Ceph or a header goes into messages: a newline in it must not start a
 * line of its own (a forged "<3>..." line under systemd, a fake event in a log). */
static void test_control_characters_escaped(void **state)
{
	char out[512];

	(void)state;
	unsetenv("JOURNAL_STREAM");
	log_set_ident("t");
	capture(out, sizeof(out), "bad key\n<3>pvenc-agent: event=open forged\r\x1b[31m\x7f");
	assert_string_equal(out, "t: kms said: bad key\\n<3>pvenc-agent: event=open forged"
				 "\\r\\x1b[31m\\x7f\n");
	/* Tabs and UTF-8 stay as they are. */
	capture(out, sizeof(out), "a\tb \xc3\xa9");
	assert_string_equal(out, "t: kms said: a\tb \xc3\xa9\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_characters_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
