/* {{slug}}: an interactive cartridge. The host calls x402_init(width, height) once, then x402_tick()
 * for every frame, and reads width * height RGBA pixels from x402_get_framebuffer().
 * This one scrolls a colour gradient; any key held down tints it. */
#include "colony.h"

#define MAX_SIDE 1024

static int32_t width, height, frame, held;
static uint8_t *pixels;

COLONY_EXPORT(x402_init) void x402_init(int32_t w, int32_t h) {
    width = w < 1 ? 320 : w > MAX_SIDE ? MAX_SIDE : w;
    height = h < 1 ? 240 : h > MAX_SIDE ? MAX_SIDE : h;
    colony_reset();
    pixels = colony_alloc(width * height * 4);
    if (!pixels) __builtin_trap(); /* the host's memory cap is too small for this size */
}

COLONY_EXPORT(x402_tick) void x402_tick(void) {
    frame++;
    for (int32_t y = 0; y < height; y++)
        for (int32_t x = 0; x < width; x++) {
            uint8_t *p = pixels + (y * width + x) * 4;
            p[0] = (uint8_t)(x + frame);
            p[1] = (uint8_t)(y + frame / 2);
            p[2] = held ? 255 : 96;
            p[3] = 255;
        }
}

COLONY_EXPORT(x402_key_down) void x402_key_down(int32_t code) { held = code; }
COLONY_EXPORT(x402_key_up) void x402_key_up(int32_t code) { (void)code; held = 0; }
COLONY_EXPORT(x402_get_framebuffer) uint8_t *x402_get_framebuffer(void) { return pixels; }
COLONY_EXPORT(x402_get_width) int32_t x402_get_width(void) { return width; }
COLONY_EXPORT(x402_get_height) int32_t x402_get_height(void) { return height; }
