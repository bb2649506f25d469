/* hello: a priced JSON API. It greets `name` from a JSON body (or "world") and says who paid. */
#include "colony.h"

static void handle(const colony_request *req) {
    colony_str name = COLONY_STR("world"), value;
    if (colony_json_get(req->body, "name", &value)) name = colony_json_text(value);
    colony_str payment = colony_payment_info();

    colony_buf out = {0};
    colony_put(&out, "{\"message\":");
    colony_buf greeting = {0};
    colony_put(&greeting, "hello, ");
    colony_put_str(&greeting, name);
    colony_put_quoted(&out, colony_buf_str(&greeting));
    colony_put(&out, ",\"method\":");
    colony_put_quoted(&out, req->method);
    colony_put(&out, ",\"path\":");
    colony_put_quoted(&out, req->path);
    colony_put(&out, ",\"payment\":");
    colony_put_str(&out, payment.len ? payment : COLONY_STR("null"));
    colony_put(&out, "}");
    colony_json(200, colony_buf_str(&out));
}

COLONY_HANDLER(handle)
