;; compose: calls the `hello` cartridge through the host's `call` and wraps its reply:
;; {"via":"compose","hello":{"status":200,"body":"...","content_type":"...","duration_ms":...}}.
;; Written against the raw ABI, with no SDK: host values come back packed as (ptr << 32) | len.
(module
  (import "x402" "call" (func $call (param i32 i32 i32 i32) (result i64)))
  (import "x402" "response" (func $response (param i32 i32 i32 i32 i32)))
  (import "x402" "log" (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "hello")
  (data (i32.const 16) "{\"method\":\"GET\",\"path\":\"/\",\"body\":\"{\\\"name\\\":\\\"compose\\\"}\",\"headers\":{}}")
  (data (i32.const 128) "{\"via\":\"compose\",\"hello\":")
  (data (i32.const 160) "{\"error\":\"hello did not answer\"}")
  (data (i32.const 208) "application/json")
  (data (i32.const 224) "compose: calling hello")

  ;; Bump allocator from 1024 upwards; grows memory when needed and answers 0 when it cannot.
  (global $top (mut i32) (i32.const 1024))
  (func $alloc (export "x402_alloc") (param $size i32) (result i32)
    (local $ptr i32) (local $end i64) (local $have i64)
    (local.set $ptr (i32.and (i32.add (global.get $top) (i32.const 7)) (i32.const -8)))
    (local.set $end (i64.add (i64.extend_i32_u (local.get $ptr)) (i64.extend_i32_u (local.get $size))))
    (local.set $have (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))
    (if (i64.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.wrap_i64 (i64.shr_u (i64.add (i64.sub (local.get $end) (local.get $have)) (i64.const 65535)) (i64.const 16))))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $top (i32.wrap_i64 (local.get $end)))
    (local.get $ptr))

  (func (export "x402_handle") (param $req i32) (param $req_len i32)
    (local $packed i64) (local $ptr i32) (local $len i32) (local $out i32)
    (call $log (i32.const 1) (i32.const 224) (i32.const 22))
    (local.set $packed (call $call (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 72)))
    (if (i64.eqz (local.get $packed))
      (then
        (call $response (i32.const 502) (i32.const 160) (i32.const 32) (i32.const 208) (i32.const 16))
        (return)))
    (local.set $ptr (i32.wrap_i64 (i64.shr_u (local.get $packed) (i64.const 32))))
    (local.set $len (i32.wrap_i64 (local.get $packed)))
    ;; out = prefix (25 bytes) + the reply + "}"
    (local.set $out (call $alloc (i32.add (local.get $len) (i32.const 26))))
    (if (i32.eqz (local.get $out)) (then (unreachable)))
    (memory.copy (local.get $out) (i32.const 128) (i32.const 25))
    (memory.copy (i32.add (local.get $out) (i32.const 25)) (local.get $ptr) (local.get $len))
    (i32.store8 (i32.add (local.get $out) (i32.add (local.get $len) (i32.const 25))) (i32.const 125))
    (call $response (i32.const 200) (local.get $out) (i32.add (local.get $len) (i32.const 26)) (i32.const 208) (i32.const 16)))
)
