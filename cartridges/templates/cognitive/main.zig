//! {{slug}}: a cognitive cartridge. The node calls it with POST / and the hook's request as the JSON
//! body, and uses a 200 JSON answer in place of its built-in code; any other answer, a trap or a
//! timeout makes it fall back to the built-in code.
//! brain.predict: request {"features": [128 numbers]}, answer {"success": 0..1,
//! "error": [11 numbers], "capabilities": [11 numbers]}. This one answers "no idea" every time.
const colony = @import("colony");

fn handle(req: *const colony.Request) void {
    if (colony.field(req.body, "features") == null) {
        return colony.json(400, "{\"error\":\"the request needs features\"}");
    }
    var out = colony.Buf{};
    out.put("{\"success\":0.5,\"error\":[");
    for (0..11) |i| {
        if (i > 0) out.putChar(',');
        out.putFloat(1.0 / 11.0, 6);
    }
    out.put("],\"capabilities\":[");
    for (0..11) |i| out.put(if (i > 0) ",0.5" else "0.5");
    out.put("]}");
    colony.json(200, out.slice());
}

export fn x402_handle(ptr: i32, len: i32) void {
    colony.handler(handle, ptr, len);
}
