#!/usr/bin/env bash
# The two lines every speed figure is quoted with: the CPU with its thread count, and its vector extensions
# (digits included: avx512_bf16, avx512_fp16). Used by compare.sh and whole_run.sh.
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) threads"
echo "simd: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(sse4_2|avx|avx2|fma|avx512[a-z0-9_]*|amx[a-z0-9_]*)$' | tr '\n' ' ')"
