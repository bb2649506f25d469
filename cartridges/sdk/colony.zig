//! colony.zig: the guest SDK for colony cartridges written in Zig (wasm32-freestanding, no std).
//!
//! It speaks the seed's cartridge ABI (tempo-x402 v2): host functions imported from module "x402",
//! values returned from the host packed as (ptr << 32) | len, and the exported x402_alloc that the
//! host uses to place the request and its answers in guest memory. `colony cartridge build` makes
//! this file the module "colony": `const colony = @import("colony");`.
//!
//! Everything here allocates from one bump arena above the stack; a backend instance is fresh for
//! every request, and `handler` resets the arena after each call for hosts that reuse instances.

// -- the host (module "x402") ------------------------------------------------------------------

extern "x402" fn log(level: i32, ptr: [*]const u8, len: i32) void;
extern "x402" fn kv_get(key_ptr: [*]const u8, key_len: i32) i64;
extern "x402" fn kv_set(key_ptr: [*]const u8, key_len: i32, val_ptr: [*]const u8, val_len: i32) i32;
extern "x402" fn payment_info() i64;
extern "x402" fn response(status: i32, body_ptr: [*]const u8, body_len: i32, ct_ptr: [*]const u8, ct_len: i32) void;
extern "x402" fn call(slug_ptr: [*]const u8, slug_len: i32, req_ptr: [*]const u8, req_len: i32) i64;

pub const Level = enum(i32) { debug = 0, info = 1, warn = 2, err = 3 };

fn len32(s: []const u8) i32 {
    return @intCast(s.len);
}

/// The bytes a host return value packed as (ptr << 32) | len points at; 0 is empty.
pub fn unpack(packed_value: i64) []const u8 {
    const bits: u64 = @bitCast(packed_value);
    const ptr: usize = @intCast(bits >> 32);
    const len: usize = @intCast(bits & 0xffff_ffff);
    if (len == 0) return "";
    const many: [*]const u8 = @ptrFromInt(ptr);
    return many[0..len];
}

pub fn eql(a: []const u8, b: []const u8) bool {
    if (a.len != b.len) return false;
    for (a, 0..) |c, i| {
        if (c != b[i]) return false;
    }
    return true;
}

pub fn startsWith(a: []const u8, prefix: []const u8) bool {
    return a.len >= prefix.len and eql(a[0..prefix.len], prefix);
}

// -- memory: a bump arena above __heap_base that grows linear memory on demand ------------------

extern var __heap_base: u8;
var heap_top: usize = 0;

/// `size` bytes aligned to 8, or null when linear memory cannot grow (the host's cap).
pub fn alloc(size: usize) ?[*]u8 {
    var top: usize = if (heap_top != 0) heap_top else @intFromPtr(&__heap_base);
    top = (top + 7) & ~@as(usize, 7);
    const end: u64 = @as(u64, top) + size;
    const have: u64 = @as(u64, @wasmMemorySize(0)) * 65536;
    if (end > have) {
        const pages: u64 = (end - have + 65535) / 65536;
        if (pages > 65536 or @wasmMemoryGrow(0, @intCast(pages)) < 0) return null;
    }
    heap_top = @intCast(end);
    return @ptrFromInt(top);
}

/// Forget every allocation (call it only when nothing allocated is still in use).
pub fn reset() void {
    heap_top = 0;
}

/// The host asks for a buffer here before it writes the request or a host-call answer.
export fn x402_alloc(size: i32) i32 {
    if (size < 0) return 0;
    const ptr = alloc(@intCast(size)) orelse return 0;
    return @bitCast(@as(u32, @intCast(@intFromPtr(ptr))));
}

// -- writing: a growable buffer for building responses ------------------------------------------

pub const Buf = struct {
    bytes: [*]u8 = undefined,
    len: usize = 0,
    cap: usize = 0,

    pub fn slice(self: *const Buf) []const u8 {
        if (self.len == 0) return "";
        return self.bytes[0..self.len];
    }

    fn reserve(self: *Buf, more: usize) bool {
        if (more > 1 << 30 or self.len + more > 1 << 30) return false;
        if (self.len + more <= self.cap) return true;
        var cap: usize = if (self.cap > 64) self.cap else 64;
        while (cap < self.len + more) cap *= 2;
        const grown = alloc(cap) orelse return false;
        for (0..self.len) |i| grown[i] = self.bytes[i];
        self.bytes = grown;
        self.cap = cap;
        return true;
    }

    pub fn put(self: *Buf, s: []const u8) void {
        if (!self.reserve(s.len)) return;
        for (s, 0..) |c, i| self.bytes[self.len + i] = c;
        self.len += s.len;
    }

    pub fn putChar(self: *Buf, c: u8) void {
        self.put(&[_]u8{c});
    }

    pub fn putInt(self: *Buf, v: i64) void {
        var digits: [20]u8 = undefined;
        var n: usize = 0;
        var u: u64 = if (v < 0) 0 -% @as(u64, @bitCast(v)) else @intCast(v);
        while (true) {
            digits[n] = @intCast('0' + u % 10);
            n += 1;
            u /= 10;
            if (u == 0) break;
        }
        if (v < 0) self.putChar('-');
        while (n > 0) {
            n -= 1;
            self.putChar(digits[n]);
        }
    }

    /// `v` with `decimals` digits after the point (at most 9); NaN and infinities become JSON null.
    pub fn putFloat(self: *Buf, value: f64, decimals: u4) void {
        if (value != value or value - value != 0) return self.put("null");
        const places: u4 = if (decimals > 9) 9 else decimals;
        var scale: u64 = 1;
        for (0..places) |_| scale *= 10;
        var v = value;
        if (v < 0) {
            self.putChar('-');
            v = -v;
        }
        var exponent: i64 = 0;
        while (v >= 1e15) {
            v /= 10;
            exponent += 1;
        }
        var whole: u64 = @intFromFloat(v);
        var frac: u64 = @intFromFloat((v - @as(f64, @floatFromInt(whole))) * @as(f64, @floatFromInt(scale)) + 0.5);
        if (frac >= scale) {
            whole += 1;
            frac -= scale;
        }
        self.putInt(@intCast(whole));
        if (places > 0) {
            self.putChar('.');
            var d = scale / 10;
            while (d > 0) : (d /= 10) self.putChar(@intCast('0' + frac / d % 10));
        }
        if (exponent != 0) {
            self.putChar('e');
            self.putInt(exponent);
        }
    }

    /// `s` as a quoted JSON string, escaped.
    pub fn putQuoted(self: *Buf, s: []const u8) void {
        const hex = "0123456789abcdef";
        self.putChar('"');
        for (s) |c| {
            if (c == '"' or c == '\\') {
                self.putChar('\\');
                self.putChar(c);
            } else if (c < 0x20) {
                self.put(&[_]u8{ '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] });
            } else {
                self.putChar(c);
            }
        }
        self.putChar('"');
    }
};

// -- reading JSON: find a member or an item without building a tree ----------------------------

fn skipWs(s: []const u8, start: usize) usize {
    var i = start;
    while (i < s.len and (s[i] == ' ' or s[i] == '\t' or s[i] == '\n' or s[i] == '\r')) i += 1;
    return i;
}

/// The index just past the JSON value starting at `start` (whitespace skipped), or null if malformed.
fn valueEnd(s: []const u8, start: usize) ?usize {
    var i = skipWs(s, start);
    if (i >= s.len) return null;
    if (s[i] == '"') {
        i += 1;
        while (i < s.len) : (i += 1) {
            if (s[i] == '\\') {
                i += 1;
            } else if (s[i] == '"') return i + 1;
        }
        return null;
    }
    if (s[i] == '{' or s[i] == '[') {
        var depth: usize = 0;
        while (i < s.len) : (i += 1) {
            switch (s[i]) {
                '"' => i = (valueEnd(s, i) orelse return null) - 1,
                '{', '[' => depth += 1,
                '}', ']' => {
                    depth -= 1;
                    if (depth == 0) return i + 1;
                },
                else => {},
            }
        }
        return null;
    }
    const first = i;
    while (i < s.len) : (i += 1) {
        switch (s[i]) {
            ',', '}', ']', ' ', '\t', '\n', '\r' => break,
            else => {},
        }
    }
    return if (i > first) i else null;
}

/// Walks the members of a JSON object (`next` until null) or the items of an array (`item`).
pub const Cursor = struct {
    rest: []const u8,

    pub const Member = struct { name: []const u8, value: []const u8 };

    /// The next member of an object: its raw key (between the quotes) and its raw JSON value.
    pub fn next(self: *Cursor) ?Member {
        const s = self.rest;
        var i = skipWs(s, 0);
        if (i < s.len and (s[i] == '{' or s[i] == ',')) i = skipWs(s, i + 1);
        if (i >= s.len or s[i] != '"') return null;
        const key_end = valueEnd(s, i) orelse return null;
        const name = s[i + 1 .. key_end - 1];
        i = skipWs(s, key_end);
        if (i >= s.len or s[i] != ':') return null;
        const start = skipWs(s, i + 1);
        const stop = valueEnd(s, start) orelse return null;
        self.rest = s[stop..];
        return .{ .name = name, .value = s[start..stop] };
    }

    /// The next item of an array, as raw JSON.
    pub fn item(self: *Cursor) ?[]const u8 {
        const s = self.rest;
        var i = skipWs(s, 0);
        if (i < s.len and (s[i] == '[' or s[i] == ',')) i = skipWs(s, i + 1);
        if (i >= s.len or s[i] == ']') return null;
        const stop = valueEnd(s, i) orelse return null;
        self.rest = s[stop..];
        return s[i..stop];
    }
};

/// The raw JSON text of member `key` of the object `obj` (top level only).
pub fn field(obj: []const u8, key: []const u8) ?[]const u8 {
    var cursor = Cursor{ .rest = obj };
    while (cursor.next()) |member| {
        if (eql(member.name, key)) return member.value;
    }
    return null;
}

fn hexDigit(c: u8) ?u32 {
    return switch (c) {
        '0'...'9' => c - '0',
        'a'...'f' => c - 'a' + 10,
        'A'...'F' => c - 'A' + 10,
        else => null,
    };
}

fn hex4(s: []const u8, at: usize) ?u32 {
    if (at + 4 > s.len) return null;
    var v: u32 = 0;
    for (s[at .. at + 4]) |c| v = v * 16 + (hexDigit(c) orelse return null);
    return v;
}

/// The text of a raw JSON string value with its escapes decoded (into the arena); other values as they are.
pub fn text(raw: []const u8) []const u8 {
    if (raw.len < 2 or raw[0] != '"') return raw;
    const s = raw[1 .. raw.len - 1];
    const out = alloc(raw.len) orelse return "";
    var n: usize = 0;
    var i: usize = 0;
    while (i < s.len) {
        const c = s[i];
        i += 1;
        if (c != '\\' or i >= s.len) {
            out[n] = c;
            n += 1;
            continue;
        }
        const e = s[i];
        i += 1;
        var cp: u32 = switch (e) {
            'b' => 8,
            'f' => 12,
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => 0xFFFD,
            else => e,
        };
        if (e == 'u') {
            if (hex4(s, i)) |v| {
                cp = v;
                i += 4;
            }
            if (cp >= 0xD800 and cp < 0xDC00 and i + 6 <= s.len and s[i] == '\\' and s[i + 1] == 'u') {
                if (hex4(s, i + 2)) |low| {
                    if (low >= 0xDC00 and low < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        i += 6;
                    }
                }
            }
            if (cp >= 0xD800 and cp < 0xE000) cp = 0xFFFD;
        }
        n += utf8(out + n, cp);
    }
    return out[0..n];
}

fn utf8(out: [*]u8, cp: u32) usize {
    if (cp < 0x80) {
        out[0] = @intCast(cp);
        return 1;
    }
    if (cp < 0x800) {
        out[0] = @intCast(0xC0 | cp >> 6);
        out[1] = @intCast(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = @intCast(0xE0 | cp >> 12);
        out[1] = @intCast(0x80 | (cp >> 6 & 0x3F));
        out[2] = @intCast(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = @intCast(0xF0 | cp >> 18);
    out[1] = @intCast(0x80 | (cp >> 12 & 0x3F));
    out[2] = @intCast(0x80 | (cp >> 6 & 0x3F));
    out[3] = @intCast(0x80 | (cp & 0x3F));
    return 4;
}

/// A raw JSON number as an f64, or null when it is not one.
pub fn number(raw: []const u8) ?f64 {
    var i: usize = 0;
    var sign: f64 = 1;
    var value: f64 = 0;
    var digits: usize = 0;
    if (i < raw.len and raw[i] == '-') {
        sign = -1;
        i += 1;
    }
    while (i < raw.len and raw[i] >= '0' and raw[i] <= '9') : ({
        i += 1;
        digits += 1;
    }) value = value * 10 + @as(f64, @floatFromInt(raw[i] - '0'));
    if (i < raw.len and raw[i] == '.') {
        var place: f64 = 0.1;
        i += 1;
        while (i < raw.len and raw[i] >= '0' and raw[i] <= '9') : ({
            i += 1;
            digits += 1;
            place /= 10;
        }) value += @as(f64, @floatFromInt(raw[i] - '0')) * place;
    }
    if (digits == 0) return null;
    if (i < raw.len and (raw[i] == 'e' or raw[i] == 'E')) {
        i += 1;
        var negative = false;
        if (i < raw.len and (raw[i] == '+' or raw[i] == '-')) {
            negative = raw[i] == '-';
            i += 1;
        }
        var e: u32 = 0;
        while (i < raw.len and raw[i] >= '0' and raw[i] <= '9') : (i += 1) {
            if (e < 400) e = e * 10 + (raw[i] - '0');
        }
        while (e > 0) : (e -= 1) value = if (negative) value / 10 else value * 10;
    }
    return if (i == raw.len) sign * value else null;
}

/// A raw JSON number (or a string of digits, as KV values are) as an i64, or null.
pub fn int(raw: []const u8) ?i64 {
    var s = raw;
    if (s.len >= 2 and s[0] == '"') s = s[1 .. s.len - 1];
    const negative = s.len > 0 and s[0] == '-';
    if (negative) s = s[1..];
    if (s.len == 0) return null;
    var v: u64 = 0;
    for (s) |c| {
        if (c < '0' or c > '9' or v > 922337203685477580) return null;
        v = v * 10 + (c - '0');
    }
    if (v > 9223372036854775807) return null;
    const signed: i64 = @intCast(v);
    return if (negative) -signed else signed;
}

// -- the request --------------------------------------------------------------------------------

pub const Request = struct {
    method: []const u8 = "GET",
    path: []const u8 = "/",
    /// The query string without its "?", or "".
    query: []const u8 = "",
    body: []const u8 = "",
    /// The raw JSON object of headers; read one with `header`.
    headers: []const u8 = "{}",
    /// The raw JSON payment ({payer, amount, tx_hash}), or "" when unpaid.
    payment: []const u8 = "",
    raw: []const u8 = "",

    /// The value of header `name` (any case), or "".
    pub fn header(self: *const Request, name: []const u8) []const u8 {
        var cursor = Cursor{ .rest = self.headers };
        while (cursor.next()) |member| {
            if (member.name.len != name.len) continue;
            var same = true;
            for (member.name, 0..) |c, i| {
                if (lower(c) != lower(name[i])) same = false;
            }
            if (same) return text(member.value);
        }
        return "";
    }
};

fn lower(c: u8) u8 {
    return if (c >= 'A' and c <= 'Z') c + 32 else c;
}

/// The request the host wrote at (ptr, len), as x402_handle receives it.
pub fn request(ptr: i32, len: i32) Request {
    const many: [*]const u8 = @ptrFromInt(@as(usize, @as(u32, @bitCast(ptr))));
    const raw = if (len > 0) many[0..@intCast(len)] else "";
    var req = Request{ .raw = raw };
    if (field(raw, "method")) |v| req.method = text(v);
    if (field(raw, "path")) |v| req.path = text(v);
    if (field(raw, "query")) |v| req.query = text(v);
    if (field(raw, "body")) |v| req.body = text(v);
    if (field(raw, "headers")) |v| req.headers = v;
    if (field(raw, "payment")) |v| {
        if (!eql(v, "null")) req.payment = v;
    }
    return req;
}

/// Wraps `handle(*const Request)` as the body of an exported x402_handle; frees the arena after it:
/// `export fn x402_handle(ptr: i32, len: i32) void { colony.handler(handle, ptr, len); }`
pub fn handler(comptime handle: fn (*const Request) void, ptr: i32, len: i32) void {
    const req = request(ptr, len);
    handle(&req);
    reset();
}

// -- answering ----------------------------------------------------------------------------------

/// Set the HTTP response; an empty content type means application/json.
pub fn respond(status: i32, body: []const u8, content_type: []const u8) void {
    response(status, body.ptr, len32(body), content_type.ptr, len32(content_type));
}

/// Answer `body` with `status` as application/json.
pub fn json(status: i32, body: []const u8) void {
    respond(status, body, "application/json");
}

pub fn print(level: Level, message: []const u8) void {
    log(@intFromEnum(level), message.ptr, len32(message));
}

// -- KV (persisted per cartridge; written atomically when the call succeeds) -------------------

/// The value stored under `key`, or null.
pub fn kvGet(key: []const u8) ?[]const u8 {
    const packed_value = kv_get(key.ptr, len32(key));
    if (packed_value == 0) return null;
    return unpack(packed_value);
}

/// Store `value` under `key`; false if the host refused it.
pub fn kvSet(key: []const u8, value: []const u8) bool {
    return kv_set(key.ptr, len32(key), value.ptr, len32(value)) == 0;
}

pub fn kvGetInt(key: []const u8, fallback: i64) i64 {
    const value = kvGet(key) orelse return fallback;
    return int(value) orelse fallback;
}

pub fn kvSetInt(key: []const u8, value: i64) bool {
    var b = Buf{};
    b.putInt(value);
    return kvSet(key, b.slice());
}

// -- payment and composition --------------------------------------------------------------------

/// The payment for this call as raw JSON ({payer, amount, tx_hash}), or null when it was free.
pub fn paymentInfo() ?[]const u8 {
    const info = unpack(payment_info());
    if (info.len == 0 or eql(info, "null")) return null;
    return info;
}

pub const Reply = struct { status: i32, body: []const u8, content_type: []const u8 };

/// Call cartridge `slug`; its reply, or null if the host refused the call.
pub fn callCartridge(slug: []const u8, method: []const u8, path: []const u8, body: []const u8) ?Reply {
    var req = Buf{};
    req.put("{\"method\":");
    req.putQuoted(method);
    req.put(",\"path\":");
    req.putQuoted(path);
    req.put(",\"body\":");
    req.putQuoted(body);
    req.put(",\"headers\":{}}");
    const out = req.slice();
    const result = unpack(call(slug.ptr, len32(slug), out.ptr, len32(out)));
    if (result.len == 0) return null;
    const status = if (field(result, "status")) |v| int(v) orelse 500 else 500;
    return .{
        .status = @intCast(@max(@min(status, 999), 0)),
        .body = if (field(result, "body")) |v| text(v) else "",
        .content_type = if (field(result, "content_type")) |v| text(v) else "",
    };
}
