/* test_status.c - the error vocabulary. */
#include "tests/testutil.h"
#include "engine/status.h"

#include <string.h>

static void test_strerror_names_every_status(void **state)
{
    (void)state;
    assert_string_equal(lf_strerror(LF_OK), "ok");
    assert_string_equal(lf_strerror(LF_ERR_FORMAT), "bad format");
    assert_string_equal(lf_strerror(LF_ERR_BUSY), "busy");
    assert_string_equal(lf_strerror(-1000), "unknown error");
}

static void test_errf_formats_and_returns_status(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(lf_errf(buf, sizeof buf, LF_ERR_FORMAT, "tensor %d of %s", 7, "abcdefghijk"),
                     LF_ERR_FORMAT);
    assert_string_equal(buf, "tensor 7 of abc"); /* truncated, terminated */
    assert_int_equal(lf_errf(NULL, 0, LF_ERR_IO, "x"), LF_ERR_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_every_status),
        cmocka_unit_test(test_errf_formats_and_returns_status),
    };
    return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
