//! The CPU's multiply-add rates by instruction, on one core: f32 FMA (`vfmadd231ps`, what the
//! GEMMs use), bf16 pairs into f32 (`vdpbf16ps`, AVX-512 BF16) and f16 FMA (`vfmadd231ph`,
//! AVX-512 FP16), each as multiply-adds per nanosecond with 24 independent accumulators, and the
//! low-precision rates as multiples of the f32 one. It decides whether bf16 GEMMs could be faster
//! than the f32 ones on this CPU: `vdpbf16ps` does twice the multiply-adds per instruction, so it
//! pays only if the CPU issues it at more than half the FMA rate.
//!
//! `cargo bench --bench dot_rates`

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;

    /// `$n` iterations of 24 `$insn zmmI, zmm30, zmm31` (I = 0..24), accumulators zeroed first.
    macro_rules! rate_loop {
        ($name:ident, $insn:literal) => {
            #[inline(never)]
            pub fn $name(n: u64) {
                // SAFETY: register-only arithmetic; every register written is declared clobbered. The
                // caller checks that the CPU has the instruction.
                unsafe {
                    asm!(
                        "vpxord zmm30, zmm30, zmm30",
                        "vpxord zmm31, zmm31, zmm31",
                        "2:",
                        concat!($insn, " zmm0, zmm30, zmm31"), concat!($insn, " zmm1, zmm30, zmm31"),
                        concat!($insn, " zmm2, zmm30, zmm31"), concat!($insn, " zmm3, zmm30, zmm31"),
                        concat!($insn, " zmm4, zmm30, zmm31"), concat!($insn, " zmm5, zmm30, zmm31"),
                        concat!($insn, " zmm6, zmm30, zmm31"), concat!($insn, " zmm7, zmm30, zmm31"),
                        concat!($insn, " zmm8, zmm30, zmm31"), concat!($insn, " zmm9, zmm30, zmm31"),
                        concat!($insn, " zmm10, zmm30, zmm31"), concat!($insn, " zmm11, zmm30, zmm31"),
                        concat!($insn, " zmm12, zmm30, zmm31"), concat!($insn, " zmm13, zmm30, zmm31"),
                        concat!($insn, " zmm14, zmm30, zmm31"), concat!($insn, " zmm15, zmm30, zmm31"),
                        concat!($insn, " zmm16, zmm30, zmm31"), concat!($insn, " zmm17, zmm30, zmm31"),
                        concat!($insn, " zmm18, zmm30, zmm31"), concat!($insn, " zmm19, zmm30, zmm31"),
                        concat!($insn, " zmm20, zmm30, zmm31"), concat!($insn, " zmm21, zmm30, zmm31"),
                        concat!($insn, " zmm22, zmm30, zmm31"), concat!($insn, " zmm23, zmm30, zmm31"),
                        "dec {n}",
                        "jnz 2b",
                        n = inout(reg) n => _,
                        out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _, out("zmm4") _, out("zmm5") _,
                        out("zmm6") _, out("zmm7") _, out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
                        out("zmm12") _, out("zmm13") _, out("zmm14") _, out("zmm15") _, out("zmm16") _,
                        out("zmm17") _, out("zmm18") _, out("zmm19") _, out("zmm20") _, out("zmm21") _,
                        out("zmm22") _, out("zmm23") _, out("zmm30") _, out("zmm31") _,
                        options(nostack),
                    );
                }
            }
        };
    }

    rate_loop!(fma_f32, "vfmadd231ps");
    rate_loop!(dot_bf16, "vdpbf16ps");
    rate_loop!(fma_f16, "vfmadd231ph");
}

#[cfg(target_arch = "x86_64")]
fn main() {
    use std::time::Instant;
    if !is_x86_feature_detected!("avx512f") {
        println!("dot_rates: this CPU has no AVX-512; nothing to compare (the GEMMs use AVX2 FMA)");
        return;
    }
    const ITERS: u64 = 100_000_000;
    // Multiply-adds per nanosecond: 24 instructions per iteration, `per_insn` each.
    let rate = |f: fn(u64), per_insn: f64| {
        f(ITERS / 20); // warm up (the core's clock ramps up under AVX-512 load)
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                f(ITERS);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        ITERS as f64 * 24.0 * per_insn / best / 1e9
    };
    let f32_rate = rate(x86::fma_f32, 16.0);
    println!("vfmadd231ps (f32 FMA, 16 per instruction):        {f32_rate:6.1} multiply-adds/ns, 1.00x");
    if is_x86_feature_detected!("avx512bf16") {
        let r = rate(x86::dot_bf16, 32.0);
        println!("vdpbf16ps (bf16 pairs into f32, 32 per instruction): {r:6.1} multiply-adds/ns, {:.2}x", r / f32_rate);
    } else {
        println!("vdpbf16ps: this CPU has no AVX-512 BF16");
    }
    if is_x86_feature_detected!("avx512fp16") {
        let r = rate(x86::fma_f16, 32.0);
        println!("vfmadd231ph (f16 FMA, 32 per instruction):        {r:6.1} multiply-adds/ns, {:.2}x", r / f32_rate);
    } else {
        println!("vfmadd231ph: this CPU has no AVX-512 FP16");
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("dot_rates: x86-64 only");
}
