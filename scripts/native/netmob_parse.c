/*
 * netmob_parse.c: the ingest stage's per-file kernel (see scripts/netmob_cpc/traffic_files.py).
 *
 * One pass over the bytes of one NetMob23 traffic file (one line per tile,
 * `tile_id v1 ... vN`, fields separated by exactly one space) that adds every value to
 * its commune's row of the day's sums:
 *
 *     traffic[commune_of_tile[tile_id], slot] += value
 *
 * and counts the data-quality figures of the ingest (scripts/netmob_cpc/qc.py). No CPython
 * API: the library is loaded with ctypes and built by the local rule `parser_library` with
 *     ${CC:-cc} -O3 -std=c99 -shared -fPIC -o LIB scripts/native/netmob_parse.c
 *
 * Semantics (traffic_files.py has an independent pure-Python implementation of the same
 * rules and a vectorised one, and the tests check that all three agree bit for bit):
 * - Lines end with "\n"; a "\r" right before it (or at the very end of the file) is
 *   dropped and counted (crlf_lines). The last line may lack its "\n". A line with no
 *   character is blank: skipped and counted (blank_lines), wherever it is.
 * - Every other line holds exactly n_fields fields (one space is the only separator, so
 *   two consecutive spaces enclose an empty field). Field 1 is the tile id: 1 to 19
 *   decimal digits. Fields 2..n_fields are the slots' values:
 *     empty field or [+-]nan (any letter case)   missing: counted, adds nothing (as NaN
 *                                                 in pandas' groupby().sum())
 *     [+-]digits[.digits][(e|E)[+-]digits]       a number (also "5." and ".5"), converted
 *                                                 to the correctly rounded double (as
 *                                                 strtod / Python's float())
 *   anything else (inf, hex, "1,5", "12abc", tabs) is an error; so is a finite-looking
 *   number that overflows a double (1e400).
 * - A tile id below n_index is looked up in commune_of_tile (-1: no commune) and marked
 *   in `seen` (a second row of the same tile counts as a duplicate and is added again, as
 *   in the seed's merge + groupby); a tile id >= n_index has no commune.
 * - Rows of tiles without commune add their values to slot_unmapped; every value goes
 *   into slot_total. Zeros (and missing values) are never added: with every sum starting
 *   at +0.0 that gives exactly the same doubles as adding them.
 *
 * Speed: a line with the right number of spaces and no "\r" (nearly every line) takes a
 * fast path (SSE2): bit masks of 64 bytes at a time locate the fields that are not a lone
 * "0", so that finding the next field never waits for the previous one to be parsed; the
 * other lines take the byte-by-byte loop (runs of "0 " skipped 16 at a time), which also
 * names every error. Short plain numbers (up to 7 digits, "." and up to 7 decimals) are
 * read from two 8-byte words. The POPCNT instruction, when the CPU has it, is chosen at
 * run time (netmob_cpu_path); never -march=native, as the library may run elsewhere.
 *
 * Numbers: the digits are read 8 at a time; the value is computed exactly from the first 19
 * significant digits: Clinger's fast path when they fit in 53 bits and |exponent| <= 22,
 * else (x86) the 64-bit-mantissa long double with a halfway check, and for longer digit
 * strings the same on both ends of the truncation interval; strtod for whatever remains
 * undecided (or on other machines).
 *
 * The caller zero-fills seen, traffic, tiles, slot_total and slot_unmapped.
 */

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* -DNETMOB_PORTABLE turns off the x86 / little-endian fast paths (the tests build it
   that way too, to check the plain C paths that other machines would run). */
#if defined(__SSE2__) && defined(__GNUC__) && !defined(NETMOB_PORTABLE)
#include <emmintrin.h>
#define HAVE_SSE2 1
#endif

/* Bumped whenever the signature or the stats layout changes; traffic_files.py checks it. */
#define NETMOB_ABI_VERSION 3

/* Layout of the int64 `stats` array (mirrored in traffic_files.py, _STATS). */
enum {
    ST_LINES = 0,      /* lines of the file, blank ones included */
    ST_ROWS,           /* tile rows (non-blank lines) */
    ST_BLANK,          /* blank lines */
    ST_CRLF,           /* lines ended by "\r\n" (or a final "\r") */
    ST_EMPTY,          /* empty slot fields */
    ST_NAN,            /* nan slot fields */
    ST_NEGATIVE,       /* values < 0 */
    ST_NONZERO,        /* values != 0 (missing ones excluded) */
    ST_DUPLICATE,      /* rows whose tile id appeared on an earlier row */
    ST_UNMAPPED,       /* rows whose tile has no commune (or lies beyond the index) */
    ST_NEG_LINE,       /* first negative value: line (1-based) */
    ST_NEG_FIELD,      /*   field (1-based) */
    ST_NEG_OFFSET,     /*   byte offset of its text */
    ST_NEG_LENGTH,     /*   length of its text */
    ST_ERR_CODE,       /* error (NM_*), 0 = none */
    ST_ERR_LINE,       /* line (1-based) of the error */
    ST_ERR_FIELD,      /* field (1-based), 0 for a whole-line error */
    ST_ERR_OFFSET,     /* byte offset of the offending text */
    ST_ERR_LENGTH,     /* its length */
    ST_ERR_FOUND,      /* NM_FIELD_COUNT: fields found on the line */
    ST_MAX_BITS,       /* largest value (bits of the double; 0.0 when none is > 0) */
    ST_MAX_LINE,       /*   its first occurrence: line (0 when none is > 0) */
    ST_MAX_FIELD,      /*   field */
    ST_MAX_OFFSET,     /*   byte offset of its text */
    ST_MAX_LENGTH,     /*   length of its text */
    ST_DUP_LINE,       /* first row whose tile appeared on an earlier row: line */
    ST_DUP_TILE,       /*   its tile id */
    ST_COUNT
};

enum {
    NM_OK = 0,
    NM_FIELD_COUNT = 1,   /* line with a wrong number of fields */
    NM_NOT_A_NUMBER = 2,  /* slot field that is neither a number nor missing */
    NM_BAD_TILE = 3,      /* tile id that is not 1..19 decimal digits */
    NM_EMPTY_FILE = 4,    /* no tile row at all */
    NM_OUT_OF_RANGE = 5,  /* number beyond the range of a double */
    NM_BAD_ARGUMENT = 6   /* n_fields < 2 or similar misuse */
};

int netmob_abi_version(void) { return NETMOB_ABI_VERSION; }
int netmob_stats_count(void) { return ST_COUNT; }

/* End of a line: end of buffer, "\n", or "\r" followed by "\n" or the end of buffer. */
static inline int at_eol(const char *p, const char *end)
{
    return p >= end || *p == '\n' || (*p == '\r' && (p + 1 >= end || p[1] == '\n'));
}

/* End of a field: a space or the end of the line. */
static inline int at_sep(const char *p, const char *end)
{
    return (p < end && *p == ' ') || at_eol(p, end);
}

static inline int is_digit(char c) { return (unsigned char)(c - '0') < 10; }

static const double POW10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#if (defined(__x86_64__) || defined(__i386__)) && LDBL_MANT_DIG == 64 && \
    !defined(NETMOB_PORTABLE)
#define HAVE_X87_LONG_DOUBLE 1
/* 10^k for k <= 27 is exact in a 64-bit mantissa (5^27 < 2^64). */
static const long double POW10L[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#endif

#ifdef HAVE_X87_LONG_DOUBLE
/* m * 10^exp10 (m < 2^64, |exp10| <= 27) correctly rounded to a double, in *out; 0 when
   undecided. m and 10^|exp10| are exact in long double, so r is the exact value rounded
   once to 64 bits; rounding r to 53 bits gives the correctly rounded double unless r sits
   exactly halfway between two doubles (its 11 extra bits are 0x400), where the first
   rounding may have decided the tie. */
static inline int x87_round(uint64_t m, int64_t exp10, double *out)
{
    long double r = exp10 < 0 ? (long double)m / POW10L[-exp10]
                              : (long double)m * POW10L[exp10];
    uint64_t bits;
    memcpy(&bits, &r, sizeof bits); /* x87 format: the 64-bit mantissa comes first */
    if ((bits & 0x7FF) == 0x400)
        return 0;
    *out = (double)r;
    return 1;
}
#endif

/* Eight bytes at a time (little-endian GCC/Clang targets); plain loops elsewhere. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && !defined(NETMOB_PORTABLE)
#define HAVE_SWAR 1
static const uint64_t POW10_U64[20] = {
    UINT64_C(1), UINT64_C(10), UINT64_C(100), UINT64_C(1000), UINT64_C(10000),
    UINT64_C(100000), UINT64_C(1000000), UINT64_C(10000000), UINT64_C(100000000),
    UINT64_C(1000000000), UINT64_C(10000000000), UINT64_C(100000000000),
    UINT64_C(1000000000000), UINT64_C(10000000000000), UINT64_C(100000000000000),
    UINT64_C(1000000000000000), UINT64_C(10000000000000000),
    UINT64_C(100000000000000000), UINT64_C(1000000000000000000),
    UINT64_C(10000000000000000000)};

static inline uint64_t load8(const char *p)
{
    uint64_t word;
    memcpy(&word, p, sizeof word);
    return word;
}

/* How many of the 8 bytes of `word` (first byte = lowest) are digits before the first
   non-digit. A byte is a digit iff its high nibble and that of byte + 6 are both 3; the
   carry of byte + 6 only ever spoils bytes after a non-digit. */
static inline int leading_digits8(uint64_t word)
{
    const uint64_t high = UINT64_C(0xF0F0F0F0F0F0F0F0);
    const uint64_t threes = UINT64_C(0x3030303030303030);
    uint64_t bad = ((word & high) ^ threes) |
                   (((word + UINT64_C(0x0606060606060606)) & high) ^ threes);
    return bad ? __builtin_ctzll(bad) >> 3 : 8;
}

/* Value of the n (1..8) digits in the first bytes of `word`. */
static inline uint64_t digits8_value(uint64_t word, int n)
{
    word -= UINT64_C(0x3030303030303030);   /* digits -> 0..9; bytes past n: garbage */
    word <<= 8 * (8 - n);                   /* drop them; leading zero digits come in */
    word = word * 10 + (word >> 8);
    word = (((word & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x000F424000000064)) +
            (((word >> 16) & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x0000271000000001))) >>
           32;
    return word;
}
#endif

/* First non-digit at or after t. */
static inline const char *skip_digits(const char *t, const char *end)
{
#ifdef HAVE_SWAR
    while (end - t >= 8) {
        int n = leading_digits8(load8(t));
        t += n;
        if (n < 8)
            return t;
    }
#endif
    while (t < end && is_digit(*t))
        t++;
    return t;
}

/* m * 10^n + the value of the n digits at s (the result must fit: n + digits(m) <= 19). */
static inline uint64_t append_digits(uint64_t m, const char *s, int n, const char *end)
{
#ifdef HAVE_SWAR
    while (n > 0 && end - s >= 8) {
        int k = n < 8 ? n : 8;
        m = m * POW10_U64[k] + digits8_value(load8(s), k);
        s += k;
        n -= k;
    }
#else
    (void)end;
#endif
    for (; n > 0; n--, s++)
        m = m * 10 + (uint64_t)(*s - '0');
    return m;
}

/* How many "0 " pairs (lone zero fields followed by a space) start at p: up to 16 with
   SSE2 (baseline on x86-64), up to 4 with 8-byte words, 0 near the end of the buffer.
   Branch-free, so that the irregular runs of zeros cost no mispredicted jumps. */
static inline int64_t zero_run(const char *p, const char *end)
{
#if defined(HAVE_SSE2)
    if (end - p >= 32) {
        const __m128i pairs = _mm_set1_epi16(0x2030); /* "0 " little-endian */
        unsigned match =
            (unsigned)_mm_movemask_epi8(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), pairs)) |
            ((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
                 _mm_loadu_si128((const __m128i *)(const void *)(p + 16)), pairs))
             << 16);
        unsigned miss = ~match;
        return miss ? __builtin_ctz(miss) >> 1 : 16;
    }
#elif defined(HAVE_SWAR)
    if (end - p >= 8) {
        uint64_t diff = load8(p) ^ UINT64_C(0x2030203020302030);
        return diff ? __builtin_ctzll(diff) >> 4 : 4;
    }
#else
    (void)p;
    (void)end;
#endif
    return 0;
}

/* Whether any of the n digits at s is not '0'. */
static inline int has_nonzero_digit(const char *s, int64_t n, const char *end)
{
#ifdef HAVE_SWAR
    for (; n >= 8 && end - s >= 8; s += 8, n -= 8)
        if (load8(s) != UINT64_C(0x3030303030303030))
            return 1;
#else
    (void)end;
#endif
    for (; n > 0; s++, n--)
        if (*s != '0')
            return 1;
    return 0;
}

/* strtod on a copy of [p, q) (the token is not NUL-terminated in the buffer). The token
   uses '.': strtod reads it so under the "C" numeric locale, which Python keeps unless a
   program calls locale.setlocale(LC_NUMERIC, ...). */
static double slow_strtod(const char *p, const char *q)
{
    char local[128];
    size_t n = (size_t)(q - p);
    char *copy = n < sizeof local ? local : (char *)malloc(n + 1);
    double v;
    if (copy == NULL)
        return NAN; /* reported as "not a number"; only for absurdly long tokens */
    memcpy(copy, p, n);
    copy[n] = '\0';
    v = strtod(copy, NULL);
    if (copy != local)
        free(copy);
    return v;
}

/*
 * Parse the slot field starting at p (not a lone "0", not empty). On success *endp is
 * the separator after it. Returns NM_OK, NM_NOT_A_NUMBER or NM_OUT_OF_RANGE.
 */
static int parse_value(const char *p, const char *end, const char **endp, double *out,
                       int *missing)
{
    const char *t = p;
    const char *int_start, *frac_start;
    int negative = 0, truncated = 0;
    int64_t n_int, n_frac, exp10 = 0;
    uint64_t m = 0;
    double v;

    *missing = 0;
    if (t < end && (*t == '-' || *t == '+')) {
        negative = *t == '-';
        t++;
    }
    if (t < end && (*t | 0x20) == 'n') {
        /* [+-]nan, any letter case: missing */
        if (end - t >= 3 && (t[1] | 0x20) == 'a' && (t[2] | 0x20) == 'n' &&
            at_sep(t + 3, end)) {
            *missing = 1;
            *endp = t + 3;
            *out = 0.0;
            return NM_OK;
        }
        return NM_NOT_A_NUMBER;
    }
    int_start = t;
    t = skip_digits(t, end);
    n_int = t - int_start;
    frac_start = t;
    n_frac = 0;
    if (t < end && *t == '.') {
        frac_start = ++t;
        t = skip_digits(t, end);
        n_frac = t - frac_start;
    }
    if (n_int + n_frac == 0)
        return NM_NOT_A_NUMBER;     /* "", ".", "-", "+e5", ... */
    if (t < end && (*t == 'e' || *t == 'E')) {
        int64_t e = 0;
        int e_negative = 0, e_digits = 0;
        t++;
        if (t < end && (*t == '-' || *t == '+')) {
            e_negative = *t == '-';
            t++;
        }
        for (; t < end && is_digit(*t); t++, e_digits++)
            if (e < 100000000)
                e = e * 10 + (*t - '0');
        if (e_digits == 0)
            return NM_NOT_A_NUMBER;
        exp10 = e_negative ? -e : e;
    }
    if (!at_sep(t, end))
        return NM_NOT_A_NUMBER;
    *endp = t;

    if (n_int + n_frac <= 19) {
        /* all digits fit in 64 bits: value = m * 10^exp10 exactly */
        m = append_digits(append_digits(0, int_start, (int)n_int, end), frac_start,
                          (int)n_frac, end);
        exp10 -= n_frac;
    } else {
        /* long digit strings: keep the first 19 significant digits, note whether a
           non-zero digit was dropped */
        const char *s = int_start, *f = frac_start;
        int64_t a = n_int, b = n_frac, take;
        while (a > 0 && *s == '0') {
            s++;
            a--;
        }
        if (a == 0) {
            while (b > 0 && *f == '0') {     /* 0.000123: each zero shifts the point */
                f++;
                b--;
                exp10--;
            }
        }
        take = a < 19 ? a : 19;
        m = append_digits(0, s, (int)take, end);
        if (a > 19) {
            exp10 += a - 19;                 /* integer digits beyond the 19 kept */
            truncated = has_nonzero_digit(s + 19, a - 19, end) ||
                        has_nonzero_digit(f, b, end);
        } else {
            int64_t more = b < 19 - take ? b : 19 - take;
            m = append_digits(m, f, (int)more, end);
            exp10 -= more;
            truncated = has_nonzero_digit(f + more, b - more, end);
        }
    }

    if (m == 0) {
        v = 0.0;
    } else if (!truncated && m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        /* Clinger: both operands exact, one correctly rounded operation */
        v = (double)m;
        v = exp10 < 0 ? v / POW10[-exp10] : v * POW10[exp10];
    } else {
        int done = 0;
#ifdef HAVE_X87_LONG_DOUBLE
        if (exp10 >= -27 && exp10 <= 27) {
            if (!truncated) {
                done = x87_round(m, exp10, &v);
            } else {
                /* the value lies between m and m + 1 (times 10^exp10): if both round
                   to the same double, so does the value (rounding is monotonic) */
                double low, high;
                if (x87_round(m, exp10, &low) && x87_round(m + 1, exp10, &high) &&
                    low == high) {
                    v = low;
                    done = 1;
                }
            }
        }
#endif
        if (!done) {
            v = slow_strtod(p + (*p == '-' || *p == '+'), t);
            if (isnan(v))
                return NM_NOT_A_NUMBER;
        }
    }
    if (isinf(v))
        return NM_OUT_OF_RANGE;
    *out = negative ? -v : v;
    return NM_OK;
}

/* The short plain numbers that make up most values of a real file: 1 to 7 digits,
   optionally "." and 1 to 7 more digits, followed by a space or "\n", with at least 16
   bytes of buffer left at p. Sets *endp and *out (m / 10^k with m < 10^14 and k <= 7:
   both exact, one correctly rounded division, as strtod) and returns 1; returns 0 for
   anything else (parse_value then reads the field). */
static inline int short_number(const char *p, const char *end, const char **endp,
                               double *out)
{
#ifdef HAVE_SWAR
    uint64_t word, m;
    int n, k;
    char c;
    if (end - p < 16)
        return 0;
    word = load8(p);
    n = leading_digits8(word);
    if (n == 0 || n == 8)
        return 0;
    m = digits8_value(word, n);
    c = p[n];
    if (c == ' ' || c == '\n') {
        *endp = p + n;
        *out = (double)m;
        return 1;
    }
    if (c != '.')
        return 0;
    word = load8(p + n + 1);                /* p + n + 9 <= p + 16 <= end */
    k = leading_digits8(word);
    if (k == 0 || k == 8)
        return 0;
    c = p[n + 1 + k];
    if (c != ' ' && c != '\n')
        return 0;
    m = m * POW10_U64[k] + digits8_value(word, k);
    *endp = p + n + 1 + k;
    *out = (double)m / POW10[k];
    return 1;
#else
    (void)p;
    (void)end;
    (void)endp;
    (void)out;
    return 0;
#endif
}

#ifdef HAVE_SSE2
/* Bit i of *spaces / *zeros: s[i] is a space / a '0' (i < 64). */
static inline void byte_masks64(const char *s, uint64_t *spaces, uint64_t *zeros)
{
    const __m128i space = _mm_set1_epi8(' '), zero = _mm_set1_epi8('0');
    uint64_t sp = 0, zr = 0;
    int k;
    for (k = 0; k < 4; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + 16 * k));
        sp |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, space)) << (16 * k);
        zr |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)) << (16 * k);
    }
    *spaces = sp;
    *zeros = zr;
}

/* The end ("\n" or the end of the buffer) of the line whose slot fields start at p, if
   that line can take the fast path: no "\r" before its end and exactly n_slots - 1
   spaces in [p, end of line) (so the right number of fields); NULL otherwise. */
static inline const char *plain_line_end(const char *p, const char *end, int64_t n_slots)
{
    const char *le = (const char *)memchr(p, '\n', (size_t)(end - p));
    const char *s = p;
    int64_t spaces = 0;
    const __m128i space = _mm_set1_epi8(' ');
    if (le == NULL)
        le = end;
    if (le[-1] == '\r')
        return NULL;
    for (; le - s >= 16; s += 16)
        spaces += __builtin_popcount((unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)s), space)));
    for (; s < le; s++)
        spaces += *s == ' ';
    return spaces == n_slots - 1 ? le : NULL;
}
#endif

/* Record an error of `line`. A line whose field count is wrong is reported as such,
   whatever else is wrong with it (the pure-Python implementation checks that first). */
static int line_error(int64_t *stats, const char *buf, const char *end,
                      const char *line_start, int64_t line, int64_t n_fields, int code,
                      int64_t field, const char *token)
{
    const char *p = line_start;
    const char *token_end;
    int64_t count = 1;
    while (!at_eol(p, end)) {
        count += *p == ' ';
        p++;
    }
    if (count != n_fields) {
        code = NM_FIELD_COUNT;
        field = 0;
        token = line_start;
        token_end = p;
        stats[ST_ERR_FOUND] = count;
    } else {
        token_end = token;
        while (!at_sep(token_end, end))
            token_end++;
    }
    stats[ST_ERR_CODE] = code;
    stats[ST_ERR_LINE] = line;
    stats[ST_ERR_FIELD] = field;
    stats[ST_ERR_OFFSET] = token - buf;
    stats[ST_ERR_LENGTH] = token_end - token;
    return code;
}

/* The body of netmob_aggregate (below), compiled once per CPU path. */
#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* One parsed value of slot SLOT, written at bytes [START, STOP) of the buffer: counted as
   missing, or (when not zero) counted, checked for the first negative and the maximum (their
   line, field and bytes kept for the messages) and added, in file order, to the slot's
   total and to the commune's row (or to the unmapped traffic). Used by aggregate()'s fast
   path and its byte-by-byte loop alike, inside its scope (a macro, so that the hot loop
   keeps its counters in registers). */
#define ACCOUNT_VALUE(SLOT, START, STOP)                                                   \
    do {                                                                                   \
        if (is_missing) {                                                                  \
            missing_nan++;                                                                 \
        } else if (value != 0.0) {                                                         \
            nonzero++;                                                                     \
            if (value < 0.0 && negative++ == 0) {                                          \
                stats[ST_NEG_LINE] = line;                                                 \
                stats[ST_NEG_FIELD] = (SLOT) + 2;                                          \
                stats[ST_NEG_OFFSET] = (START) - buf;                                      \
                stats[ST_NEG_LENGTH] = (STOP) - (START);                                   \
            }                                                                              \
            if (value > max_value) {                                                       \
                max_value = value;                                                         \
                stats[ST_MAX_LINE] = line;                                                 \
                stats[ST_MAX_FIELD] = (SLOT) + 2;                                          \
                stats[ST_MAX_OFFSET] = (START) - buf;                                      \
                stats[ST_MAX_LENGTH] = (STOP) - (START);                                   \
            }                                                                              \
            slot_total[SLOT] += value;                                                     \
            if (row != NULL)                                                               \
                row[SLOT] += value;                                                        \
            else                                                                           \
                slot_unmapped[SLOT] += value;                                              \
        }                                                                                  \
    } while (0)

static ALWAYS_INLINE int aggregate(const char *buf, int64_t len, int64_t n_fields,
                                   const int32_t *commune_of_tile, int64_t n_index,
                                   int64_t n_communes, uint8_t *seen, double *traffic,
                                   int32_t *tiles, double *slot_total, double *slot_unmapped,
                                   int64_t *stats)
{
    const char *p = buf;
    const char *const end = buf + len;
    const int64_t n_slots = n_fields - 1;
    int64_t line = 0, rows = 0, blank = 0, crlf = 0, empty = 0, missing_nan = 0;
    int64_t negative = 0, nonzero = 0, duplicate = 0, unmapped = 0;
    double max_value = 0.0;
    int i;

    for (i = 0; i < ST_COUNT; i++)
        stats[i] = 0;
    if (n_slots < 1 || len < 0 || n_index < 0 || n_communes < 0) {
        stats[ST_ERR_CODE] = NM_BAD_ARGUMENT;
        return NM_BAD_ARGUMENT;
    }

    while (p < end) {
        const char *line_start = p;
        const char *q = p;
        uint64_t tile = 0;
        int32_t commune = -1;
        double *row = NULL;
        int64_t slot = 0;

        line++;
        if (at_eol(p, end)) {           /* blank line */
            blank++;
            if (*p == '\r') {
                crlf++;
                p++;
            }
            if (p < end)
                p++;                    /* its "\n" */
            continue;
        }

        /* field 1: tile id */
        while (q < end && is_digit(*q) && q - p < 19) {
            tile = tile * 10 + (uint64_t)(*q - '0');
            q++;
        }
        if (q == p || q >= end || *q != ' ')
            return line_error(stats, buf, end, line_start, line, n_fields, NM_BAD_TILE, 1, p);
        rows++;
        if (tile < (uint64_t)n_index) {
            if (seen[tile]) {
                if (duplicate++ == 0) {
                    stats[ST_DUP_LINE] = line;
                    stats[ST_DUP_TILE] = (int64_t)tile;
                }
            } else
                seen[tile] = 1;
            commune = commune_of_tile[tile];
        }
        if (commune >= 0 && commune < n_communes) {
            tiles[commune]++;
            row = traffic + (int64_t)commune * n_slots;
        } else {
            unmapped++;
        }
        p = q + 1;

#ifdef HAVE_SSE2
        /* Fast path for a line with the right number of fields and no "\r": the fields
           that are not a lone zero are found 64 bytes at a time with bit masks (field
           starts: bytes after a space; lone zeros: a '0' between two separators), so that
           finding the next field does not wait for the previous one to be parsed. The
           fields are visited in order and read as in the loop below. */
        {
            const char *le = plain_line_end(p, end, n_slots);
            if (le != NULL) {
                const char *base = p;
                int64_t spaces = 0;     /* spaces in [p, base) */
                uint64_t carry = 1;     /* the byte before base is a separator */
                while (base < le) {
                    char tmp[80];
                    const char *src = base;
                    int64_t left = le - base;
                    uint64_t sp, zr, valid, after, next_sep, starts, todo;
                    if (end - base < 72) {          /* near the end of the buffer */
                        memset(tmp, 'x', sizeof tmp);
                        memcpy(tmp, base, (size_t)(left < 65 ? left : 65));
                        src = tmp;
                    }
                    byte_masks64(src, &sp, &zr);
                    valid = left >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << left) - 1;
                    sp &= valid;
                    zr &= valid;
                    /* is the byte at base + 64 a separator (a space or the line's end)? */
                    after = left > 64 ? (uint64_t)(src[64] == ' ') : (uint64_t)(left == 64);
                    next_sep = ((sp | (left < 64 ? UINT64_C(1) << left : 0)) >> 1) |
                               (after << 63);
                    starts = ((sp << 1) | carry) & valid;
                    todo = starts & ~(zr & next_sep);
                    while (todo) {
                        int b = __builtin_ctzll(todo);
                        const char *fs = base + b;
                        int64_t fslot = spaces + __builtin_popcountll(sp & ((UINT64_C(1) << b) - 1));
                        todo &= todo - 1;
                        if (*fs == ' ') {
                            empty++;                        /* empty field */
                        } else {
                            double value;
                            int is_missing = 0;
                            const char *fe;
                            if (!short_number(fs, end, &fe, &value)) {
                                int code = parse_value(fs, end, &fe, &value, &is_missing);
                                if (code != NM_OK)
                                    return line_error(stats, buf, end, line_start, line,
                                                      n_fields, code, fslot + 2, fs);
                            }
                            ACCOUNT_VALUE(fslot, fs, fe);
                        }
                    }
                    spaces += __builtin_popcountll(sp);
                    carry = sp >> 63;
                    base += 64;
                }
                if (le[-1] == ' ')
                    empty++;                                /* empty last field */
                p = le;
                if (p < end)
                    p++;                                    /* its "\n" */
                continue;
            }
        }
#endif

        /* fields 2..n_fields: the slots */
        for (;;) {
            const char *field_start;
            /* skip a run of lone zeros followed by a space (most of a real file), as
               long as a field follows them; the field after the run is read below */
            {
                int64_t run = zero_run(p, end);
                if (run > n_slots - 1 - slot)
                    run = n_slots - 1 - slot;
                p += 2 * run;
                slot += run;
            }
            field_start = p;
            if (p < end && *p == '0' && at_sep(p + 1, end)) {
                p++;                                /* lone zero */
            } else if (at_sep(p, end)) {
                empty++;                            /* empty field */
            } else {
                double value;
                int is_missing = 0;
                if (!short_number(p, end, &p, &value)) {
                    int code = parse_value(p, end, &p, &value, &is_missing);
                    if (code != NM_OK)
                        return line_error(stats, buf, end, line_start, line, n_fields,
                                          code, slot + 2, field_start);
                }
                ACCOUNT_VALUE(slot, field_start, p);
            }
            if (p < end && *p == ' ') {
                if (slot == n_slots - 1)            /* a field too many */
                    return line_error(stats, buf, end, line_start, line, n_fields,
                                      NM_FIELD_COUNT, 0, line_start);
                p++;
                slot++;
                continue;
            }
            /* end of the line */
            if (slot != n_slots - 1)                /* fields missing */
                return line_error(stats, buf, end, line_start, line, n_fields,
                                  NM_FIELD_COUNT, 0, line_start);
            if (p < end && *p == '\r') {
                crlf++;
                p++;
            }
            if (p < end)
                p++;                                /* its "\n" */
            break;
        }
    }

    stats[ST_LINES] = line;
    stats[ST_ROWS] = rows;
    stats[ST_BLANK] = blank;
    stats[ST_CRLF] = crlf;
    stats[ST_EMPTY] = empty;
    stats[ST_NAN] = missing_nan;
    stats[ST_NEGATIVE] = negative;
    stats[ST_NONZERO] = nonzero;
    stats[ST_DUPLICATE] = duplicate;
    stats[ST_UNMAPPED] = unmapped;
    memcpy(&stats[ST_MAX_BITS], &max_value, sizeof max_value);
    if (rows == 0) {
        stats[ST_ERR_CODE] = NM_EMPTY_FILE;
        return NM_EMPTY_FILE;
    }
    return NM_OK;
}

#define AGGREGATE_PARAMETERS                                                                \
    const char *buf, int64_t len, int64_t n_fields, const int32_t *commune_of_tile,          \
        int64_t n_index, int64_t n_communes, uint8_t *seen, double *traffic, int32_t *tiles, \
        double *slot_total, double *slot_unmapped, int64_t *stats
#define AGGREGATE_ARGUMENTS                                                                  \
    buf, len, n_fields, commune_of_tile, n_index, n_communes, seen, traffic, tiles,         \
        slot_total, slot_unmapped, stats

/* CPU paths chosen at run time (the library is built without -march, where Snakemake
   runs, and may run on other machines): the same code compiled for the baseline x86-64
   and for CPUs with the POPCNT instruction (bit counts of the fast path; the baseline
   calls a library routine for each). The results are the same on both paths. */
static int aggregate_generic(AGGREGATE_PARAMETERS) { return aggregate(AGGREGATE_ARGUMENTS); }

#if defined(HAVE_SSE2) && (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define HAVE_CPU_PATHS 1
__attribute__((target("popcnt"))) static int aggregate_popcnt(AGGREGATE_PARAMETERS)
{
    return aggregate(AGGREGATE_ARGUMENTS);
}
#endif

/* 0: the generic path, 1: the POPCNT path; -1 until the first call decides. */
static int cpu_path = -1;

static int best_cpu_path(void)
{
#ifdef HAVE_CPU_PATHS
    __builtin_cpu_init();
    return __builtin_cpu_supports("popcnt") ? 1 : 0;
#else
    return 0;
#endif
}

/* The CPU path in use (request < 0), or force one (0 generic, 1 POPCNT; a path this CPU
   or build lacks falls back to the generic one). Returns the path then in use. */
int netmob_cpu_path(int request)
{
    if (request >= 0)
        cpu_path = request == 1 && best_cpu_path() == 1 ? 1 : 0;
    else if (cpu_path < 0)
        cpu_path = best_cpu_path();
    return cpu_path;
}

/*
 * Parse buf[0..len) and accumulate. Arrays (zero-filled by the caller):
 *   commune_of_tile int32[n_index]   commune row of each tile id, -1 = none
 *   seen            uint8[n_index]   tile ids met so far
 *   traffic         double[n_communes * (n_fields - 1)], row-major
 *   tiles           int32[n_communes] rows mapped to each commune
 *   slot_total, slot_unmapped  double[n_fields - 1]
 *   stats           int64[ST_COUNT]
 * Returns 0 or an NM_* error code (details in stats[ST_ERR_*]).
 */
int netmob_aggregate(AGGREGATE_PARAMETERS)
{
#ifdef HAVE_CPU_PATHS
    if (netmob_cpu_path(-1) == 1)
        return aggregate_popcnt(AGGREGATE_ARGUMENTS);
#endif
    return aggregate_generic(AGGREGATE_ARGUMENTS);
}
