#!/usr/bin/env bash
# Installs the CUDA 13.0 compiler, headers and libraries that PyPI carries into a local prefix, so that
# `cargo build --release --features cuda` works on a machine with no GPU and no CUDA toolkit, and prints
# the environment to build with. Users with a normal CUDA install do not need this (see the README).
#
#   scripts/cuda-toolchain.sh [PREFIX]        # default PREFIX: ~/.cache/kindling/cuda-13.0
#   eval "$(scripts/cuda-toolchain.sh)"       # install (once) and export the build environment
#
# Why 13.0 and not the newest: candle-kernels compiles PTX, and PTX from a toolkit newer than the driver
# does not load. The GPU machines this was written for run driver 580 (CUDA 13.0).
set -euo pipefail

PREFIX="${1:-${HOME}/.cache/kindling/cuda-13.0}"
PYTHON="${PYTHON:-python3}"
CAP="${CUDA_COMPUTE_CAP:-90}" # 90: H100/H200

PACKAGES=(
  "nvidia-cuda-nvcc==13.0.88"    # nvcc, ptxas, fatbinary
  "nvidia-nvvm==13.0.88"         # cicc, libnvvm (nvcc looks for it in bin/../nvvm)
  "nvidia-cuda-crt==13.0.88"     # crt/ headers nvcc includes
  "nvidia-cuda-runtime==13.0.96" # cuda_runtime.h, libcudart
  "nvidia-cuda-cccl==13.0.85"    # cub/thrust/libcu++ headers
  "nvidia-cublas==13.0.2.14"     # libcublas, libcublasLt
  "nvidia-curand==10.4.0.35"     # libcurand
  "nvidia-cuda-nvrtc==13.0.88"   # libnvrtc
)

log() { echo "cuda-toolchain: $*" >&2; }

if [[ ! -x "$PREFIX/bin/nvcc" ]]; then
  log "installing CUDA 13.0 wheels into $PREFIX/wheels (about 1 GB) ..."
  mkdir -p "$PREFIX"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --upgrade \
    --target "$PREFIX/wheels" "${PACKAGES[@]}" >&2
  # The wheels put everything under nvidia/cu13/{bin,include,lib,nvvm}: merge it into one CUDA_HOME.
  src="$PREFIX/wheels/nvidia/cu13"
  [[ -d "$src" ]] || { log "error: expected $src after pip install; the wheels' layout changed"; exit 1; }
  for d in bin include lib nvvm; do
    if [[ -d "$src/$d" ]]; then
      mkdir -p "$PREFIX/$d"
      cp -rs "$src/$d/." "$PREFIX/$d/" 2>/dev/null || cp -r "$src/$d/." "$PREFIX/$d/"
    fi
  done
  # Some wheels keep binaries executable only in their own folder; make sure.
  chmod +x "$PREFIX/wheels/nvidia/cu13/bin/"* "$PREFIX/wheels/nvidia/cu13/nvvm/bin/"* 2>/dev/null || true
  ln -sfn lib "$PREFIX/lib64"
  # The wheels ship versioned libraries only; the linker wants the plain names.
  for f in "$PREFIX"/lib/lib*.so.*; do
    base="${f%%.so.*}.so"
    [[ -e "$base" ]] || ln -s "$(basename "$f")" "$base"
  done
  # No wheel carries the driver library libcuda.so: link against a stub with the right soname that
  # defines the cu* symbols cudarc declares; the real driver's libcuda.so.1 is used at run time.
  mkdir -p "$PREFIX/lib/stubs"
  syms=$(grep -rhoE '\bcu[A-Z][A-Za-z0-9_]*' "$PREFIX/include/cuda.h" | sort -u)
  {
    for s in $syms; do echo "void $s(void) {}"; done
  } >"$PREFIX/lib/stubs/cuda_stub.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$PREFIX/lib/stubs/libcuda.so" "$PREFIX/lib/stubs/cuda_stub.c"
  "$PREFIX/bin/nvcc" --version >&2 || { log "error: nvcc does not run"; exit 1; }
  log "installed"
fi

# cudarc spells CUDA 13.0 as 13000 (major, 0, minor, 0).
version=$("$PREFIX/bin/nvcc" --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\10\20/p')
cat <<ENV
export CUDA_HOME="$PREFIX"
export CUDA_PATH="$PREFIX"
export NVCC="$PREFIX/bin/nvcc"
export PATH="$PREFIX/bin:\$PATH"
export CUDA_COMPUTE_CAP=$CAP
export CUDARC_CUDA_VERSION=${version}
export LIBRARY_PATH="$PREFIX/lib:$PREFIX/lib/stubs:\${LIBRARY_PATH:-}"
# At run time: the GPU machine's driver (libcuda.so.1) and these libraries (or the machine's own CUDA 13):
# export LD_LIBRARY_PATH="$PREFIX/lib:\$LD_LIBRARY_PATH"
ENV
log "then: cargo build --release --features cuda --examples"
