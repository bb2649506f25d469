/* life: Conway's game of life on a torus, drawn into an RGBA framebuffer.
 * Space pauses and resumes, R sows a new random field, C clears it, G drops a glider. */
#include "colony.h"

#define MAX_SIDE 1024
#define CELL 4 /* pixels per cell side */

static int32_t width, height, cols, rows, paused;
static uint8_t *cells, *next;
static uint32_t *pixels;
static uint32_t seed = 2463534242u;

static uint32_t random_bits(void) {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return seed;
}

static void sow(void) {
    for (int32_t i = 0; i < cols * rows; i++) cells[i] = (random_bits() & 3) == 0;
}

static void glider(int32_t x, int32_t y) {
    static const int8_t shape[5][2] = {{1, 0}, {2, 1}, {0, 2}, {1, 2}, {2, 2}};
    for (int i = 0; i < 5; i++) cells[((y + shape[i][1]) % rows) * cols + (x + shape[i][0]) % cols] = 1;
}

static void step(void) {
    for (int32_t y = 0; y < rows; y++) {
        int32_t up = (y + rows - 1) % rows, down = (y + 1) % rows;
        for (int32_t x = 0; x < cols; x++) {
            int32_t left = (x + cols - 1) % cols, right = (x + 1) % cols;
            int n = cells[up * cols + left] + cells[up * cols + x] + cells[up * cols + right] + cells[y * cols + left] +
                    cells[y * cols + right] + cells[down * cols + left] + cells[down * cols + x] + cells[down * cols + right];
            next[y * cols + x] = n == 3 || (n == 2 && cells[y * cols + x]);
        }
    }
    uint8_t *swap = cells;
    cells = next;
    next = swap;
}

static void draw(void) {
    for (int32_t y = 0; y < height; y++)
        for (int32_t x = 0; x < width; x++) {
            int alive = cells[(y / CELL % rows) * cols + x / CELL % cols];
            /* RGBA bytes in memory order: little-endian 0xAABBGGRR */
            pixels[y * width + x] = alive ? 0xFF7FE0FFu : 0xFF201010u;
        }
}

COLONY_EXPORT(x402_init) void x402_init(int32_t w, int32_t h) {
    width = w < 1 ? 320 : w > MAX_SIDE ? MAX_SIDE : w;
    height = h < 1 ? 240 : h > MAX_SIDE ? MAX_SIDE : h;
    cols = (width + CELL - 1) / CELL;
    rows = (height + CELL - 1) / CELL;
    colony_reset();
    cells = colony_alloc(cols * rows);
    next = colony_alloc(cols * rows);
    pixels = colony_alloc(width * height * 4);
    if (!cells || !next || !pixels) __builtin_trap(); /* the host's memory cap is too small for this size */
    sow();
    draw();
}

COLONY_EXPORT(x402_tick) void x402_tick(void) {
    if (!paused) step();
    draw();
}

COLONY_EXPORT(x402_key_down) void x402_key_down(int32_t code) {
    if (code == ' ') paused = !paused;
    else if (code == 'r' || code == 'R') sow();
    else if (code == 'c' || code == 'C') {
        for (int32_t i = 0; i < cols * rows; i++) cells[i] = 0;
    } else if (code == 'g' || code == 'G') glider((int32_t)(random_bits() % (uint32_t)cols), (int32_t)(random_bits() % (uint32_t)rows));
    draw();
}

COLONY_EXPORT(x402_key_up) void x402_key_up(int32_t code) { (void)code; }

COLONY_EXPORT(x402_get_framebuffer) uint32_t *x402_get_framebuffer(void) { return pixels; }
COLONY_EXPORT(x402_get_width) int32_t x402_get_width(void) { return width; }
COLONY_EXPORT(x402_get_height) int32_t x402_get_height(void) { return height; }
