;; {{slug}}: a backend cartridge, served at /c/{{slug}} and /c/{{slug}}/{path}.
;; It answers {"cartridge":"{{slug}}","request":<the request JSON the host sent>}.
(module
  (import "x402" "response" (func $response (param i32 i32 i32 i32 i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "application/json\00")
  (data (i32.const 32) "{\"cartridge\":\"{{slug}}\",\"request\":\00")

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

  ;; The length of the NUL-terminated string at $s.
  (func $strlen (param $s i32) (result i32)
    (local $n i32)
    (block $done
      (loop $scan
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $s) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $scan)))
    (local.get $n))

  (func (export "x402_handle") (param $req i32) (param $req_len i32)
    (local $prefix i32) (local $out i32)
    (local.set $prefix (call $strlen (i32.const 32)))
    (local.set $out (call $alloc (i32.add (i32.add (local.get $prefix) (local.get $req_len)) (i32.const 1))))
    (if (i32.eqz (local.get $out)) (then (unreachable)))
    (memory.copy (local.get $out) (i32.const 32) (local.get $prefix))
    (memory.copy (i32.add (local.get $out) (local.get $prefix)) (local.get $req) (local.get $req_len))
    (i32.store8 (i32.add (local.get $out) (i32.add (local.get $prefix) (local.get $req_len))) (i32.const 125))
    (call $response
      (i32.const 200)
      (local.get $out) (i32.add (i32.add (local.get $prefix) (local.get $req_len)) (i32.const 1))
      (i32.const 0) (call $strlen (i32.const 0))))
)
