/* {{slug}}: a cognitive cartridge. The node calls it with POST / and the hook's request as the JSON
 * body, and uses a 200 JSON answer in place of its built-in code; any other answer, a trap or a
 * timeout makes it fall back to the built-in code.
 * brain.predict: request {"features": [128 numbers]}, answer {"success": 0..1,
 * "error": [11 numbers], "capabilities": [11 numbers]}. This one answers "no idea" every time. */
#include "colony.h"

static void handle(const colony_request *req) {
    colony_str features;
    if (!colony_json_get(req->body, "features", &features))
        return colony_json(400, COLONY_STR("{\"error\":\"the request needs features\"}"));
    colony_buf out = {0};
    colony_put(&out, "{\"success\":0.5,\"error\":[");
    for (int i = 0; i < 11; i++) {
        if (i) colony_put_char(&out, ',');
        colony_put_float(&out, 1.0 / 11, 6);
    }
    colony_put(&out, "],\"capabilities\":[");
    for (int i = 0; i < 11; i++) colony_put(&out, i ? ",0.5" : "0.5");
    colony_put(&out, "]}");
    colony_json(200, colony_buf_str(&out));
}

COLONY_HANDLER(handle)
