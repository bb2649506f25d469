//! counter: a number kept in the cartridge's KV store. GET reads it, POST adds one, DELETE clears it.
const colony = @import("colony");

fn handle(req: *const colony.Request) void {
    var count = colony.kvGetInt("count", 0);
    if (colony.eql(req.method, "POST")) {
        count += 1;
    } else if (colony.eql(req.method, "DELETE")) {
        count = 0;
    } else if (!colony.eql(req.method, "GET")) {
        return colony.json(405, "{\"error\":\"use GET, POST or DELETE\"}");
    }
    if (!colony.eql(req.method, "GET") and !colony.kvSetInt("count", count)) {
        return colony.json(500, "{\"error\":\"the host refused the write\"}");
    }
    var out = colony.Buf{};
    out.put("{\"count\":");
    out.putInt(count);
    out.put("}");
    colony.json(200, out.slice());
}

export fn x402_handle(ptr: i32, len: i32) void {
    colony.handler(handle, ptr, len);
}
