/* colony.h: the guest SDK for colony cartridges written in C (header-only, wasm32, no libc).
 *
 * It speaks the seed's cartridge ABI (tempo-x402 v2): host functions imported from module "x402",
 * values returned from the host packed as (ptr << 32) | len, and the exported x402_alloc that the
 * host uses to place the request and its answers in guest memory.
 *
 * Strings are `colony_str` (pointer + length, not NUL-terminated). Names you write as literals
 * (KV keys, slugs, content types) are plain C strings. Everything this header allocates comes
 * from one bump arena above the stack; a backend instance is fresh for every request, and
 * COLONY_HANDLER resets the arena after each call for hosts that reuse instances.
 */
#ifndef COLONY_H
#define COLONY_H

#include <stddef.h>
#include <stdint.h>

#define COLONY_EXPORT(name) __attribute__((export_name(#name)))
#define COLONY_IMPORT(name) __attribute__((import_module("x402"), import_name(#name)))

/* -- the host (module "x402") --------------------------------------------------------------- */

COLONY_IMPORT(log) void x402_log(int32_t level, const char *ptr, int32_t len);
COLONY_IMPORT(kv_get) int64_t x402_kv_get(const char *key, int32_t key_len);
COLONY_IMPORT(kv_set) int32_t x402_kv_set(const char *key, int32_t key_len, const char *value, int32_t value_len);
COLONY_IMPORT(payment_info) int64_t x402_payment_info(void);
COLONY_IMPORT(response) void x402_response(int32_t status, const char *body, int32_t body_len, const char *ct, int32_t ct_len);
COLONY_IMPORT(call) int64_t x402_call(const char *slug, int32_t slug_len, const char *request, int32_t request_len);

enum { COLONY_DEBUG = 0, COLONY_INFO = 1, COLONY_WARN = 2, COLONY_ERROR = 3 };

/* -- strings -------------------------------------------------------------------------------- */

typedef struct {
    const char *ptr;
    int32_t len;
} colony_str;

/* A colony_str for a string literal. */
#define COLONY_STR(literal) ((colony_str){(literal), (int32_t)(sizeof(literal) - 1)})

static colony_str colony_cstr(const char *s) {
    int32_t n = 0;
    while (s[n]) n++;
    return (colony_str){s, n};
}

/* 1 if `a` holds exactly the C string `b`. */
static int colony_eq(colony_str a, const char *b) {
    int32_t i = 0;
    for (; i < a.len; i++)
        if (b[i] != a.ptr[i] || !b[i]) return 0;
    return b[i] == 0;
}

/* 1 if `a` starts with the C string `prefix`. */
static int colony_starts(colony_str a, const char *prefix) {
    for (int32_t i = 0; prefix[i]; i++)
        if (i >= a.len || a.ptr[i] != prefix[i]) return 0;
    return 1;
}

/* The (ptr, len) pair in a value the host returned packed as (ptr << 32) | len; 0 is empty. */
static colony_str colony_unpack(int64_t packed) {
    uint64_t bits = (uint64_t)packed;
    return (colony_str){(const char *)(uintptr_t)(uint32_t)(bits >> 32), (int32_t)(uint32_t)bits};
}

/* -- memory: a bump arena above __heap_base that grows linear memory on demand ------------- */

extern unsigned char __heap_base;
static uintptr_t colony_heap_top;

/* `size` bytes aligned to 8, or NULL when linear memory cannot grow (the host's cap). */
static void *colony_alloc(int32_t size) {
    if (size < 0) return NULL;
    uintptr_t top = colony_heap_top ? colony_heap_top : (uintptr_t)&__heap_base;
    top = (top + 7u) & ~(uintptr_t)7u;
    uint64_t end = (uint64_t)top + (uint64_t)size;
    uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        uint64_t pages = (end - have + 65535u) / 65536u;
        if (__builtin_wasm_memory_grow(0, (size_t)pages) == (size_t)-1) return NULL;
    }
    colony_heap_top = (uintptr_t)end;
    return (void *)top;
}

/* Forget every allocation (call it only when nothing allocated is still in use). */
static void colony_reset(void) { colony_heap_top = 0; }

/* The host asks for a buffer here before it writes the request or a host-call answer. */
COLONY_EXPORT(x402_alloc) void *x402_alloc(int32_t size) { return colony_alloc(size); }

static void colony_copy(char *to, const char *from, int32_t n) {
    for (int32_t i = 0; i < n; i++) to[i] = from[i];
}

/* -- writing: a growable buffer for building responses --------------------------------------- */

typedef struct {
    char *ptr;
    int32_t len;
    int32_t cap;
} colony_buf; /* start with colony_buf b = {0}; */

static int colony_buf_reserve(colony_buf *b, int32_t more) {
    if (more < 0 || b->len > INT32_MAX - more) return 0;
    if (b->len + more <= b->cap) return 1;
    int32_t cap = b->cap > 64 ? b->cap : 64;
    while (cap < b->len + more) cap = cap > INT32_MAX / 2 ? INT32_MAX : cap * 2;
    char *grown = (char *)colony_alloc(cap);
    if (!grown) return 0;
    colony_copy(grown, b->ptr, b->len);
    b->ptr = grown;
    b->cap = cap;
    return 1;
}

static colony_str colony_buf_str(const colony_buf *b) { return (colony_str){b->ptr, b->len}; }

static void colony_put_str(colony_buf *b, colony_str s) {
    if (!colony_buf_reserve(b, s.len)) return;
    colony_copy(b->ptr + b->len, s.ptr, s.len);
    b->len += s.len;
}

static void colony_put(colony_buf *b, const char *s) { colony_put_str(b, colony_cstr(s)); }

static void colony_put_char(colony_buf *b, char c) { colony_put_str(b, (colony_str){&c, 1}); }

static void colony_put_int(colony_buf *b, int64_t v) {
    char digits[20];
    int n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) colony_put_char(b, '-');
    while (n) colony_put_char(b, digits[--n]);
}

/* `v` with `decimals` digits after the point (at most 9); NaN and infinities become JSON null. */
static void colony_put_float(colony_buf *b, double v, int decimals) {
    if (v != v || v - v != 0) {
        colony_put(b, "null");
        return;
    }
    if (decimals < 0) decimals = 0;
    if (decimals > 9) decimals = 9;
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++) scale *= 10;
    if (v < 0) {
        colony_put_char(b, '-');
        v = -v;
    }
    int exponent = 0;
    while (v >= 1e15) {
        v /= 10;
        exponent++;
    }
    uint64_t whole = (uint64_t)v;
    uint64_t frac = (uint64_t)((v - (double)whole) * (double)scale + 0.5);
    if (frac >= scale) {
        whole++;
        frac -= scale;
    }
    colony_put_int(b, (int64_t)whole);
    if (decimals) {
        colony_put_char(b, '.');
        for (uint64_t d = scale / 10; d; d /= 10) colony_put_char(b, (char)('0' + frac / d % 10));
    }
    if (exponent) {
        colony_put_char(b, 'e');
        colony_put_int(b, exponent);
    }
}

/* `s` as a quoted JSON string, escaped. */
static void colony_put_quoted(colony_buf *b, colony_str s) {
    static const char hex[] = "0123456789abcdef";
    colony_put_char(b, '"');
    for (int32_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') {
            colony_put_char(b, '\\');
            colony_put_char(b, (char)c);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            colony_put_str(b, (colony_str){esc, 6});
        } else {
            colony_put_char(b, (char)c);
        }
    }
    colony_put_char(b, '"');
}

/* -- reading JSON: find a member or an item without building a tree ------------------------ */

static const char *colony__ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* The end of the JSON value starting at p (whitespace skipped), or NULL if it is malformed. */
static const char *colony__value_end(const char *p, const char *end) {
    p = colony__ws(p, end);
    if (p >= end) return NULL;
    if (*p == '"') {
        for (p++; p < end; p++) {
            if (*p == '\\') p++;
            else if (*p == '"') return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int32_t depth = 0;
        for (; p < end; p++) {
            if (*p == '"') {
                p = colony__value_end(p, end);
                if (!p) return NULL;
                p--;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
    return p > start ? p : NULL;
}

/* Iterate the members of a JSON object: set *cursor to the object, then call until it returns 0.
 * `name` is the raw key between its quotes; `value` is the member's raw JSON text. */
static int colony_json_member(colony_str *cursor, colony_str *name, colony_str *value) {
    const char *p = colony__ws(cursor->ptr, cursor->ptr + cursor->len), *end = cursor->ptr + cursor->len;
    if (p < end && (*p == '{' || *p == ',')) p = colony__ws(p + 1, end);
    if (p >= end || *p != '"') return 0;
    const char *key_end = colony__value_end(p, end);
    if (!key_end) return 0;
    *name = (colony_str){p + 1, (int32_t)(key_end - p - 2)};
    p = colony__ws(key_end, end);
    if (p >= end || *p != ':') return 0;
    const char *start = colony__ws(p + 1, end);
    const char *stop = colony__value_end(start, end);
    if (!stop) return 0;
    *value = (colony_str){start, (int32_t)(stop - start)};
    *cursor = (colony_str){stop, (int32_t)(end - stop)};
    return 1;
}

/* The raw text of member `key` of the JSON object `obj` (top level only); 1 if found. */
static int colony_json_get(colony_str obj, const char *key, colony_str *value) {
    colony_str cursor = obj, name;
    while (colony_json_member(&cursor, &name, value))
        if (colony_eq(name, key)) return 1;
    return 0;
}

/* Iterate a JSON array: set *cursor to the array, then call until it returns 0. */
static int colony_json_next(colony_str *cursor, colony_str *item) {
    const char *p = colony__ws(cursor->ptr, cursor->ptr + cursor->len), *end = cursor->ptr + cursor->len;
    if (p < end && (*p == '[' || *p == ',')) p = colony__ws(p + 1, end);
    if (p >= end || *p == ']') return 0;
    const char *stop = colony__value_end(p, end);
    if (!stop) return 0;
    *item = (colony_str){p, (int32_t)(stop - p)};
    *cursor = (colony_str){stop, (int32_t)(end - stop)};
    return 1;
}

static int colony__hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static uint32_t colony__u16(const char *p, const char *end) {
    if (end - p < 4) return 0xFFFFFFFFu;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = colony__hex(p[i]);
        if (d < 0) return 0xFFFFFFFFu;
        v = v * 16 + (uint32_t)d;
    }
    return v;
}

/* The text of a raw JSON string value with its escapes decoded (into the arena); other values as they are. */
static colony_str colony_json_text(colony_str raw) {
    if (raw.len < 2 || raw.ptr[0] != '"') return raw;
    const char *p = raw.ptr + 1, *end = raw.ptr + raw.len - 1;
    char *out = (char *)colony_alloc(raw.len);
    if (!out) return (colony_str){raw.ptr, 0};
    int32_t n = 0;
    while (p < end) {
        char c = *p++;
        if (c != '\\' || p >= end) {
            out[n++] = c;
            continue;
        }
        c = *p++;
        switch (c) {
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            uint32_t cp = colony__u16(p, end);
            if (cp == 0xFFFFFFFFu) cp = 0xFFFD;
            else p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t low = colony__u16(p + 2, end);
                if (low >= 0xDC00 && low < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
            if (cp < 0x80) {
                out[n++] = (char)cp;
            } else if (cp < 0x800) {
                out[n++] = (char)(0xC0 | cp >> 6);
                out[n++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out[n++] = (char)(0xE0 | cp >> 12);
                out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
                out[n++] = (char)(0x80 | (cp & 0x3F));
            } else {
                out[n++] = (char)(0xF0 | cp >> 18);
                out[n++] = (char)(0x80 | (cp >> 12 & 0x3F));
                out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
                out[n++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: out[n++] = c; /* \" \\ \/ */
        }
    }
    return (colony_str){out, n};
}

/* A raw JSON number as a double (`fallback` when it is not a number). */
static double colony_json_number(colony_str raw, double fallback) {
    const char *p = raw.ptr, *end = raw.ptr + raw.len;
    double sign = 1, value = 0;
    int digits = 0;
    if (p < end && *p == '-') {
        sign = -1;
        p++;
    }
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) value = value * 10 + (*p - '0');
    if (p < end && *p == '.') {
        double place = 0.1;
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, digits++, place /= 10) value += (*p - '0') * place;
    }
    if (!digits) return fallback;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int esign = 1, e = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) esign = *p++ == '-' ? -1 : 1;
        for (; p < end && *p >= '0' && *p <= '9'; p++) e = e < 400 ? e * 10 + (*p - '0') : e;
        for (; e > 0; e--) value = esign > 0 ? value * 10 : value / 10;
    }
    return p == end ? sign * value : fallback;
}

/* A raw JSON number (or a string of digits, as KV values are) as an integer; `fallback` otherwise. */
static int64_t colony_json_int(colony_str raw, int64_t fallback) {
    if (raw.len >= 2 && raw.ptr[0] == '"') raw = (colony_str){raw.ptr + 1, raw.len - 2};
    const char *p = raw.ptr, *end = raw.ptr + raw.len;
    int negative = p < end && *p == '-';
    if (negative) p++;
    if (p >= end) return fallback;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (uint64_t)INT64_MAX / 10) return fallback;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > (uint64_t)INT64_MAX) return fallback;
    return negative ? -(int64_t)v : (int64_t)v;
}

/* -- the request ---------------------------------------------------------------------------- */

typedef struct {
    colony_str method;  /* "GET", "POST", ... */
    colony_str path;    /* "/" or the rest of /c/{slug}/{path} */
    colony_str query;   /* the query string without its "?", or empty */
    colony_str body;    /* the request body as text */
    colony_str headers; /* the raw JSON object of headers; read one with colony_header */
    colony_str payment; /* the raw JSON payment ({payer, amount, tx_hash}), or empty when unpaid */
    colony_str raw;     /* the whole request JSON */
} colony_request;

/* The request the host wrote at (ptr, len), as x402_handle receives it. */
static colony_request colony_request_read(int32_t ptr, int32_t len) {
    colony_request req = {
        COLONY_STR("GET"), COLONY_STR("/"), COLONY_STR(""), COLONY_STR(""), COLONY_STR("{}"), COLONY_STR(""), {(const char *)(uintptr_t)ptr, len},
    };
    colony_str value;
    if (colony_json_get(req.raw, "method", &value)) req.method = colony_json_text(value);
    if (colony_json_get(req.raw, "path", &value)) req.path = colony_json_text(value);
    if (colony_json_get(req.raw, "query", &value)) req.query = colony_json_text(value);
    if (colony_json_get(req.raw, "body", &value)) req.body = colony_json_text(value);
    if (colony_json_get(req.raw, "headers", &value)) req.headers = value;
    if (colony_json_get(req.raw, "payment", &value) && !colony_eq(value, "null")) req.payment = value;
    return req;
}

static char colony__lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* The value of header `name` (any case), or empty. */
static colony_str colony_header(const colony_request *req, const char *name) {
    colony_str cursor = req->headers, key, value;
    while (colony_json_member(&cursor, &key, &value)) {
        int32_t i = 0;
        while (i < key.len && name[i] && colony__lower(key.ptr[i]) == colony__lower(name[i])) i++;
        if (i == key.len && !name[i]) return colony_json_text(value);
    }
    return COLONY_STR("");
}

/* -- answering ------------------------------------------------------------------------------ */

/* Set the HTTP response; an empty content type means application/json. */
static void colony_respond(int32_t status, colony_str body, const char *content_type) {
    colony_str ct = colony_cstr(content_type);
    x402_response(status, body.ptr, body.len, ct.ptr, ct.len);
}

/* Answer `json` with `status` as application/json. */
static void colony_json(int32_t status, colony_str json) { colony_respond(status, json, "application/json"); }

static void colony_log(int32_t level, colony_str message) { x402_log(level, message.ptr, message.len); }

/* Define x402_handle: read the request, run `fn(const colony_request *)`, then free the arena. */
#define COLONY_HANDLER(fn)                                                      \
    COLONY_EXPORT(x402_handle) void x402_handle(int32_t ptr, int32_t len) {     \
        colony_request colony__req = colony_request_read(ptr, len);             \
        fn(&colony__req);                                                       \
        colony_reset();                                                         \
    }

/* -- KV (persisted per cartridge; written atomically when the call succeeds) --------------- */

/* The value stored under `key`; 1 if there is one. */
static int colony_kv_get(const char *key, colony_str *value) {
    colony_str k = colony_cstr(key);
    int64_t packed = x402_kv_get(k.ptr, k.len);
    if (!packed) return 0;
    *value = colony_unpack(packed);
    return 1;
}

/* Store `value` under `key`; 0 on success, -1 if the host refused it. */
static int colony_kv_set(const char *key, colony_str value) {
    colony_str k = colony_cstr(key);
    return x402_kv_set(k.ptr, k.len, value.ptr, value.len);
}

static int64_t colony_kv_get_int(const char *key, int64_t fallback) {
    colony_str value;
    return colony_kv_get(key, &value) ? colony_json_int(value, fallback) : fallback;
}

static int colony_kv_set_int(const char *key, int64_t value) {
    colony_buf b = {0};
    colony_put_int(&b, value);
    return colony_kv_set(key, colony_buf_str(&b));
}

/* -- payment and composition ---------------------------------------------------------------- */

/* The payment for this call as raw JSON ({payer, amount, tx_hash}), or empty when it was free. */
static colony_str colony_payment_info(void) {
    colony_str info = colony_unpack(x402_payment_info());
    return colony_eq(info, "null") ? COLONY_STR("") : info;
}

typedef struct {
    int32_t status;
    colony_str body;
    colony_str content_type;
} colony_reply;

/* Call cartridge `slug` with a request; 1 with its reply filled in, 0 if the host refused the call. */
static int colony_call(const char *slug, const char *method, const char *path, colony_str body, colony_reply *reply) {
    colony_buf req = {0};
    colony_put(&req, "{\"method\":");
    colony_put_quoted(&req, colony_cstr(method));
    colony_put(&req, ",\"path\":");
    colony_put_quoted(&req, colony_cstr(path));
    colony_put(&req, ",\"body\":");
    colony_put_quoted(&req, body);
    colony_put(&req, ",\"headers\":{}}");
    colony_str s = colony_cstr(slug);
    colony_str result = colony_unpack(x402_call(s.ptr, s.len, req.ptr, req.len));
    if (!result.len) return 0;
    colony_str value;
    reply->status = colony_json_get(result, "status", &value) ? (int32_t)colony_json_int(value, 500) : 500;
    reply->body = colony_json_get(result, "body", &value) ? colony_json_text(value) : COLONY_STR("");
    reply->content_type = colony_json_get(result, "content_type", &value) ? colony_json_text(value) : COLONY_STR("");
    return 1;
}

#endif /* COLONY_H */
