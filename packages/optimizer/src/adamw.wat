;; AdamW's update of one parameter, four lanes at a time (WebAssembly SIMD), every op in float32.
;; Each op of +, −, ×, ÷ and √ rounded once to float32 gives the value that the op computed in
;; float64 and then rounded to float32 gives (53 ≥ 2·24 + 2 bits: the double rounding is exact), so
;; this computes bit for bit what AdamW.ts's JavaScript loop computes with Math.fround after each op.
;;
;; adamw(g, theta, m, v, n, scale, keep, b1, c1, b2, c2, d1, d2, eps, rate): byte offsets of n floats
;; each; m and v are updated in place and theta is overwritten with the new value:
;;   g ← g·scale;  m ← b1·m + c1·g;  v ← b2·v + c2·(g·g)
;;   theta ← theta·keep − rate·((m / d1) / (√(v / d2) + eps))
;; Compiled by `wat2wasm --enable-simd` (npm wabt); the bytes are in AdamWKernel.ts.
(module
  (import "env" "memory" (memory 1 65536))
  (func (export "adamw")
    (param $g i32) (param $theta i32) (param $m i32) (param $v i32) (param $n i32)
    (param $scale f32) (param $keep f32) (param $b1 f32) (param $c1 f32) (param $b2 f32)
    (param $c2 f32) (param $d1 f32) (param $d2 f32) (param $eps f32) (param $rate f32)
    (local $i i32) (local $end4 i32) (local $end i32)
    (local $gj v128) (local $mj v128) (local $vj v128)
    (local $Vscale v128) (local $Vkeep v128) (local $Vb1 v128) (local $Vc1 v128) (local $Vb2 v128)
    (local $Vc2 v128) (local $Vd1 v128) (local $Vd2 v128) (local $Veps v128) (local $Vrate v128)
    (local $sg f32) (local $sm f32) (local $sv f32)
    (local.set $Vscale (f32x4.splat (local.get $scale)))
    (local.set $Vkeep (f32x4.splat (local.get $keep)))
    (local.set $Vb1 (f32x4.splat (local.get $b1)))
    (local.set $Vc1 (f32x4.splat (local.get $c1)))
    (local.set $Vb2 (f32x4.splat (local.get $b2)))
    (local.set $Vc2 (f32x4.splat (local.get $c2)))
    (local.set $Vd1 (f32x4.splat (local.get $d1)))
    (local.set $Vd2 (f32x4.splat (local.get $d2)))
    (local.set $Veps (f32x4.splat (local.get $eps)))
    (local.set $Vrate (f32x4.splat (local.get $rate)))
    ;; byte offsets: i runs over [0, end4) four floats at a time, then [end4, end) one at a time
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $end4 (i32.and (local.get $end) (i32.const -16)))
    (local.set $i (i32.const 0))
    (block $done4
      (loop $lanes
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $gj (f32x4.mul (v128.load align=4 (i32.add (local.get $g) (local.get $i))) (local.get $Vscale)))
        (local.set $mj
          (f32x4.add
            (f32x4.mul (local.get $Vb1) (v128.load align=4 (i32.add (local.get $m) (local.get $i))))
            (f32x4.mul (local.get $Vc1) (local.get $gj))))
        (local.set $vj
          (f32x4.add
            (f32x4.mul (local.get $Vb2) (v128.load align=4 (i32.add (local.get $v) (local.get $i))))
            (f32x4.mul (local.get $Vc2) (f32x4.mul (local.get $gj) (local.get $gj)))))
        (v128.store align=4 (i32.add (local.get $m) (local.get $i)) (local.get $mj))
        (v128.store align=4 (i32.add (local.get $v) (local.get $i)) (local.get $vj))
        (v128.store align=4 (i32.add (local.get $theta) (local.get $i))
          (f32x4.sub
            (f32x4.mul (v128.load align=4 (i32.add (local.get $theta) (local.get $i))) (local.get $Vkeep))
            (f32x4.mul (local.get $Vrate)
              (f32x4.div
                (f32x4.div (local.get $mj) (local.get $Vd1))
                (f32x4.add (f32x4.sqrt (f32x4.div (local.get $vj) (local.get $Vd2))) (local.get $Veps))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $lanes)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $sg (f32.mul (f32.load (i32.add (local.get $g) (local.get $i))) (local.get $scale)))
        (local.set $sm
          (f32.add
            (f32.mul (local.get $b1) (f32.load (i32.add (local.get $m) (local.get $i))))
            (f32.mul (local.get $c1) (local.get $sg))))
        (local.set $sv
          (f32.add
            (f32.mul (local.get $b2) (f32.load (i32.add (local.get $v) (local.get $i))))
            (f32.mul (local.get $c2) (f32.mul (local.get $sg) (local.get $sg)))))
        (f32.store (i32.add (local.get $m) (local.get $i)) (local.get $sm))
        (f32.store (i32.add (local.get $v) (local.get $i)) (local.get $sv))
        (f32.store (i32.add (local.get $theta) (local.get $i))
          (f32.sub
            (f32.mul (f32.load (i32.add (local.get $theta) (local.get $i))) (local.get $keep))
            (f32.mul (local.get $rate)
              (f32.div
                (f32.div (local.get $sm) (local.get $d1))
                (f32.add (f32.sqrt (f32.div (local.get $sv) (local.get $d2))) (local.get $eps))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $tail)))))
