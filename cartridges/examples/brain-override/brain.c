/* brain-override: answers the brain's step prediction (the `brain.predict` computation) in place of
 * the built-in model. Request body: {"features": [128 numbers]}. Answer: {"success": p,
 * "error": [11 numbers summing to 1], "capabilities": [11 numbers in 0..1]}.
 * The rule is deliberately simple: feature i feeds class i % 11, and every score is the squashed
 * mean x / (1 + |x|) moved into 0..1. A non-200 answer makes the node use its built-in brain. */
#include "colony.h"

#define FEATURES 128
#define CLASSES 11

static double squash(double x) { return 0.5 + 0.5 * x / (1.0 + (x < 0 ? -x : x)); }

static void put_list(colony_buf *out, const double *values, int n) {
    colony_put_char(out, '[');
    for (int i = 0; i < n; i++) {
        if (i) colony_put_char(out, ',');
        colony_put_float(out, values[i], 6);
    }
    colony_put_char(out, ']');
}

static void handle(const colony_request *req) {
    colony_str features, item;
    if (!colony_json_get(req->body, "features", &features))
        return colony_json(400, COLONY_STR("{\"error\":\"the request needs features: [128 numbers]\"}"));
    double sums[CLASSES] = {0}, counts[CLASSES] = {0}, total = 0;
    int n = 0;
    for (; n < FEATURES && colony_json_next(&features, &item); n++) {
        double x = colony_json_number(item, 0.0 / 0.0);
        if (x != x) return colony_json(400, COLONY_STR("{\"error\":\"every feature must be a number\"}"));
        sums[n % CLASSES] += x;
        counts[n % CLASSES] += 1;
        total += x;
    }
    if (n != FEATURES || colony_json_next(&features, &item))
        return colony_json(400, COLONY_STR("{\"error\":\"the brain takes exactly 128 features\"}"));

    double error[CLASSES], capabilities[CLASSES], spread = 0;
    for (int k = 0; k < CLASSES; k++) {
        double mean = sums[k] / counts[k];
        capabilities[k] = squash(mean);
        error[k] = mean < 0 ? -mean : mean;
        spread += error[k];
    }
    for (int k = 0; k < CLASSES; k++) error[k] = spread > 0 ? error[k] / spread : 1.0 / CLASSES;

    colony_buf out = {0};
    colony_put(&out, "{\"success\":");
    colony_put_float(&out, squash(total / FEATURES), 6);
    colony_put(&out, ",\"error\":");
    put_list(&out, error, CLASSES);
    colony_put(&out, ",\"capabilities\":");
    put_list(&out, capabilities, CLASSES);
    colony_put_char(&out, '}');
    colony_json(200, colony_buf_str(&out));
}

COLONY_HANDLER(handle)
