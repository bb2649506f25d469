//! {{slug}}: a backend cartridge, served at /c/{{slug}} and /c/{{slug}}/{path}.
const colony = @import("colony");

fn handle(req: *const colony.Request) void {
    var out = colony.Buf{};
    out.put("{\"cartridge\":\"{{slug}}\",\"method\":");
    out.putQuoted(req.method);
    out.put(",\"path\":");
    out.putQuoted(req.path);
    out.put(",\"body\":");
    out.putQuoted(req.body);
    out.put("}");
    colony.json(200, out.slice());
}

export fn x402_handle(ptr: i32, len: i32) void {
    colony.handler(handle, ptr, len);
}
