;; {{slug}}: an interactive cartridge. The host calls x402_init(width, height) once, then x402_tick()
;; for every frame, and reads width * height RGBA pixels from x402_get_framebuffer().
;; This one scrolls a colour gradient; any key held down tints it.
(module
  (memory (export "memory") 1)
  (global $width (mut i32) (i32.const 0))
  (global $height (mut i32) (i32.const 0))
  (global $frame (mut i32) (i32.const 0))
  (global $held (mut i32) (i32.const 0))
  ;; The framebuffer starts at 64 KiB; memory grows to fit it in x402_init.
  (global $pixels i32 (i32.const 65536))

  (func $side (param $n i32) (param $fallback i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $n) (i32.const 1))
      (then (local.get $fallback))
      (else (select (i32.const 1024) (local.get $n) (i32.gt_s (local.get $n) (i32.const 1024))))))

  (func (export "x402_init") (param $w i32) (param $h i32)
    (local $pages i32)
    (global.set $width (call $side (local.get $w) (i32.const 320)))
    (global.set $height (call $side (local.get $h) (i32.const 240)))
    (local.set $pages
      (i32.add (i32.const 2) (i32.shr_u (i32.mul (i32.mul (global.get $width) (global.get $height)) (i32.const 4)) (i32.const 16))))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then (unreachable))))))

  (func (export "x402_tick")
    (local $x i32) (local $y i32) (local $p i32)
    (global.set $frame (i32.add (global.get $frame) (i32.const 1)))
    (local.set $p (global.get $pixels))
    (local.set $y (i32.const 0))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $y) (global.get $height)))
        (local.set $x (i32.const 0))
        (block $cols_done
          (loop $cols
            (br_if $cols_done (i32.ge_s (local.get $x) (global.get $width)))
            (i32.store8 (local.get $p) (i32.add (local.get $x) (global.get $frame)))
            (i32.store8 offset=1 (local.get $p) (i32.add (local.get $y) (i32.shr_u (global.get $frame) (i32.const 1))))
            (i32.store8 offset=2 (local.get $p) (select (i32.const 255) (i32.const 96) (global.get $held)))
            (i32.store8 offset=3 (local.get $p) (i32.const 255))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $cols)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rows))))

  (func (export "x402_key_down") (param $code i32) (global.set $held (i32.const 1)))
  (func (export "x402_key_up") (param $code i32) (global.set $held (i32.const 0)))
  (func (export "x402_get_framebuffer") (result i32) (global.get $pixels))
  (func (export "x402_get_width") (result i32) (global.get $width))
  (func (export "x402_get_height") (result i32) (global.get $height))
)
