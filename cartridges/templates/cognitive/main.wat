;; {{slug}}: a cognitive cartridge. The node calls it with POST / and the hook's request as the JSON
;; body, and uses a 200 JSON answer in place of its built-in code; any other answer, a trap or a
;; timeout makes it fall back to the built-in code.
;; brain.predict: request {"features": [128 numbers]}, answer {"success": 0..1,
;; "error": [11 numbers], "capabilities": [11 numbers]}. This one answers "no idea" every time.
(module
  (import "x402" "response" (func $response (param i32 i32 i32 i32 i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "application/json\00")
  (data (i32.const 32) "{\"success\":0.5,\"error\":[0.090909,0.090909,0.090909,0.090909,0.090909,0.090909,0.090909,0.090909,0.090909,0.090909,0.090909],\"capabilities\":[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]}\00")

  ;; The host writes the request here: one buffer after the constants, grown to fit.
  (func (export "x402_alloc") (param $size i32) (result i32)
    (local $pages i32)
    (local.set $pages (i32.shr_u (i32.add (i32.add (local.get $size) (i32.const 4096)) (i32.const 65535)) (i32.const 16)))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 4096))

  (func $strlen (param $s i32) (result i32)
    (local $n i32)
    (block $done
      (loop $scan
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $s) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $scan)))
    (local.get $n))

  (func (export "x402_handle") (param $req i32) (param $req_len i32)
    (call $response
      (i32.const 200)
      (i32.const 32) (call $strlen (i32.const 32))
      (i32.const 0) (call $strlen (i32.const 0))))
)
