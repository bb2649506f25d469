//! {{slug}}: an interactive cartridge. The host calls x402_init(width, height) once, then x402_tick()
//! for every frame, and reads width * height RGBA pixels from x402_get_framebuffer().
//! This one scrolls a colour gradient; any key held down tints it.
const colony = @import("colony");

const max_side = 1024;
var width: i32 = 0;
var height: i32 = 0;
var frame: u32 = 0;
var held: bool = false;
var pixels: [*]u8 = undefined;

fn side(requested: i32, fallback: i32) i32 {
    if (requested < 1) return fallback;
    return if (requested > max_side) max_side else requested;
}

export fn x402_init(w: i32, h: i32) void {
    width = side(w, 320);
    height = side(h, 240);
    colony.reset();
    // Trap when the host's memory cap is too small for this size.
    pixels = colony.alloc(@intCast(width * height * 4)) orelse unreachable;
}

export fn x402_tick() void {
    frame +%= 1;
    const w: usize = @intCast(width);
    const h: usize = @intCast(height);
    for (0..h) |y| {
        for (0..w) |x| {
            const p = pixels + (y * w + x) * 4;
            p[0] = @truncate(x +% frame);
            p[1] = @truncate(y +% frame / 2);
            p[2] = if (held) 255 else 96;
            p[3] = 255;
        }
    }
}

export fn x402_key_down(code: i32) void {
    _ = code;
    held = true;
}

export fn x402_key_up(code: i32) void {
    _ = code;
    held = false;
}

export fn x402_get_framebuffer() i32 {
    return @intCast(@intFromPtr(pixels));
}

export fn x402_get_width() i32 {
    return width;
}

export fn x402_get_height() i32 {
    return height;
}
