/* test_json_num.c - qz_json_int (formats/json_num.h): the values cJSON's
 * valueint got wrong (issue 15 defect 13) and the range edges; and
 * qz_mul_overflow (qz_common.h), the size-product check. */
#include "json_num.h"
#include "qz_test.h"

#include <stdint.h>

static int parse_int(const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    cJSON *j = cJSON_Parse(text);
    int ok = qz_json_int(j, lo, hi, out);
    cJSON_Delete(j);
    return ok;
}

static void test_json_int(void)
{
    int64_t v = -7;
    static const char *refused[] = {"4.7", "1e20", "null", "\"4\"", "true", "-1", "9", "[4]", "{}", "4.000001", "-0.5"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        CHECK(!parse_int(refused[i], 0, 8, &v) && v == -7, "'%s' accepted as %lld", refused[i], (long long)v);
    CHECK(parse_int("4", 0, 8, &v) && v == 4, "4 -> %lld", (long long)v);
    CHECK(parse_int("4.0", 0, 8, &v) && v == 4, "4.0 (an integral value) -> %lld", (long long)v);
    CHECK(parse_int("0", 0, 8, &v) && v == 0 && parse_int("8", 0, 8, &v) && v == 8, "range ends");
    CHECK(parse_int("-1", -1, 8, &v) && v == -1, "-1 in [-1, 8]");
    CHECK(parse_int("1e3", 0, 1000, &v) && v == 1000, "1e3 -> %lld", (long long)v);
    CHECK(parse_int("9007199254740992", 0, INT64_C(1) << 53, &v) && v == (INT64_C(1) << 53), "2^53");
    CHECK(!qz_json_int(NULL, 0, 8, &v), "absent");
}

static void test_mul_overflow(void)
{
    int64_t p = -1;
    CHECK(qz_mul_overflow(1000000, 1000000, &p) == 0 && p == INT64_C(1000000000000), "1e6 * 1e6 = %lld", (long long)p);
    CHECK(qz_mul_overflow(INT64_C(1) << 31, INT64_C(1) << 31, &p) == 0 && p == INT64_C(1) << 62, "2^62 fits");
    CHECK(qz_mul_overflow(INT64_C(1) << 32, INT64_C(1) << 31, &p) == -1 && p == 0, "2^63 overflows");
    CHECK(qz_mul_overflow(INT64_C(1000000000000000), 1000000, &p) == -1 && p == 0, "1e15 * 1e6 overflows");
    CHECK(qz_mul_overflow(-2, 3, &p) == -1, "negative size");
    CHECK(qz_mul_overflow(0, INT64_MAX, &p) == 0 && p == 0, "zero");
    CHECK(qz_mul_overflow(INT64_MAX, 1, &p) == 0 && p == INT64_MAX, "max * 1");
}

int main(void)
{
    QZ_RUN(test_json_int);
    QZ_RUN(test_mul_overflow);
    QZ_TEST_EXIT();
}
