// SPDX-License-Identifier: MIT
/* SigV4 against AWS's published Signature Version 4 test suite
 * (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html): credentials
 * AKIDEXAMPLE, region us-east-1, service "service", 20150830T123600Z. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/sigv4.h"

#define SUITE_SCOPE \
	"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
#define STS_TOKEN                                                                                \
	"AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRX" \
	"mxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburE" \
	"Dy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkU"  \
	"L64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

static struct sigv4_req suite(const char *method)
{
	return (struct sigv4_req){
		.method = method,
		.host = "example.amazonaws.com",
		.region = "us-east-1",
		.service = "service",
		.amz_date = "20150830T123600Z",
		.access_key = "AKIDEXAMPLE",
		.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	};
}

static void check(const struct sigv4_req *rq, const char *want)
{
	char auth[SIGV4_AUTH_MAX];

	assert_int_equal(sigv4_authorization(rq, auth, sizeof(auth)), 0);
	assert_string_equal(auth, want);
}

static void test_get_vanilla(void **state)
{
	struct sigv4_req rq = suite("GET");

	check(&rq, SUITE_SCOPE
	      "SignedHeaders=host;x-amz-date, "
	      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void test_post_vanilla(void **state)
{
	struct sigv4_req rq = suite("POST");

	check(&rq, SUITE_SCOPE
	      "SignedHeaders=host;x-amz-date, "
	      "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

/* post-header-value-case: the value keeps its case, the name is lower-cased. */
static void test_post_header_value_case(void **state)
{
	const struct sigv4_header h[] = { { "My-Header1", "VALUE1" } };
	struct sigv4_req rq = suite("POST");

	rq.headers = h;
	rq.nheaders = 1;
	check(&rq, SUITE_SCOPE
	      "SignedHeaders=host;my-header1;x-amz-date, "
	      "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
}

/* post-x-www-form-urlencoded: a body and its content type. */
static void test_post_form(void **state)
{
	const struct sigv4_header h[] = { { "Content-Type", "application/x-www-form-urlencoded" } };
	struct sigv4_req rq = suite("POST");

	rq.headers = h;
	rq.nheaders = 1;
	rq.body = "Param1=value1";
	rq.body_len = strlen(rq.body);
	check(&rq, SUITE_SCOPE
	      "SignedHeaders=content-type;host;x-amz-date, "
	      "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

/* post-sts-header-before: a session token is a signed header. */
static void test_post_sts_token(void **state)
{
	struct sigv4_req rq = suite("POST");

	rq.session_token = STS_TOKEN;
	check(&rq, SUITE_SCOPE
	      "SignedHeaders=host;x-amz-date;x-amz-security-token, "
	      "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
}

static void test_refusals(void **state)
{
	const struct sigv4_header crlf[] = { { "X-Amz-Target", "a\r\nb" } };
	const struct sigv4_header dup[] = { { "host", "other" } };
	struct sigv4_req rq = suite("POST");
	char auth[SIGV4_AUTH_MAX];

	rq.headers = crlf;
	rq.nheaders = 1;
	assert_int_equal(sigv4_authorization(&rq, auth, sizeof(auth)), -EINVAL);
	rq.headers = dup;
	assert_int_equal(sigv4_authorization(&rq, auth, sizeof(auth)), -EINVAL);
	rq = suite("POST");
	rq.amz_date = "2015-08-30";
	assert_int_equal(sigv4_authorization(&rq, auth, sizeof(auth)), -EINVAL);
	rq = suite("POST");
	assert_int_equal(sigv4_authorization(&rq, auth, 40), -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_vanilla),
		cmocka_unit_test(test_post_vanilla),
		cmocka_unit_test(test_post_header_value_case),
		cmocka_unit_test(test_post_form),
		cmocka_unit_test(test_post_sts_token),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
