/* {{slug}}: a backend cartridge, served at /c/{{slug}} and /c/{{slug}}/{path}. */
#include "colony.h"

static void handle(const colony_request *req) {
    colony_buf out = {0};
    colony_put(&out, "{\"cartridge\":\"{{slug}}\",\"method\":");
    colony_put_quoted(&out, req->method);
    colony_put(&out, ",\"path\":");
    colony_put_quoted(&out, req->path);
    colony_put(&out, ",\"body\":");
    colony_put_quoted(&out, req->body);
    colony_put(&out, "}");
    colony_json(200, colony_buf_str(&out));
}

COLONY_HANDLER(handle)
