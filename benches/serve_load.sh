#!/usr/bin/env bash
# A bounded load on kindling's web server (`serve`): N classify requests, C at a time, against
# 127.0.0.1; prints requests/s, the p50/p90/p99 latency, the answers' statuses and the server's
# resident memory before and after (VmRSS, and its peak VmHWM). docs/serve.md holds the figures.
#
#   benches/serve_load.sh [-n N] [-c C] [-d DATASET] [-m MODELS] [-i IMAGE] [-u URL] [-- SERVE_ARGS...]
#
#   -n N        requests (200)            -c C        at a time (20)
#   -d DATASET  the data set classified (cifar10): every model of it answers each request
#   -m MODELS   only these models (ids separated by commas, as GET /api/models lists them)
#   -i IMAGE    the image sent (default: a held-out image of DATASET, from GET /api/random)
#   -u URL      a server already running (default: start target/release/examples/serve on a free
#               port with every shipped model and SERVE_ARGS, and stop it at the end)
#
# Needs curl, and a release build of the serve example (cargo build --release --example serve)
# unless -u is given; KINDLING_DATA for the kNN rung and the held-out images.
set -euo pipefail

n=200 c=20 dataset=cifar10 models="" image="" url=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n) n="$2"; shift 2 ;;
    -c) c="$2"; shift 2 ;;
    -d) dataset="$2"; shift 2 ;;
    -m) models="$2"; shift 2 ;;
    -i) image="$2"; shift 2 ;;
    -u) url="${2%/}"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve_load.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$n" =~ ^[1-9][0-9]*$ && "$c" =~ ^[1-9][0-9]*$ ]] || { echo "serve_load.sh: -n and -c take positive whole numbers" >&2; exit 2; }
command -v curl >/dev/null || { echo "serve_load.sh: needs curl" >&2; exit 2; }

work=$(mktemp -d)
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

memory() { # VmRSS and VmHWM of the server, in MB
  [[ -n "$pid" ]] || { echo "n/a (server not started here)"; return; }
  awk '/^VmRSS|^VmHWM/ { printf "%s %.0f MB  ", $1, $2 / 1024 }' "/proc/$pid/status"; echo
}

if [[ -z "$url" ]]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  bin="$root/target/release/examples/serve"
  [[ -x "$bin" ]] || { echo "serve_load.sh: $bin not built: cargo build --release --example serve" >&2; exit 2; }
  "$bin" --port 0 "$@" >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 600); do
    grep -q "http://" "$work/out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.2
  done
  url=$(grep -o 'http://[^ ]*' "$work/out" | head -1); url="${url%/}"
  echo "server: $(head -1 "$work/out")"
fi

if [[ -z "$image" ]]; then
  image="$work/image.png"
  code=$(curl -s -o "$image" -w '%{http_code}' "$url/api/random?dataset=$dataset")
  [[ "$code" == 200 ]] || { echo "serve_load.sh: no held-out $dataset image ($code): give one with -i" >&2; exit 1; }
fi
query="dataset=$dataset"
[[ -n "$models" ]] && query="models=$models"
target="$url/api/classify?$query"

# One warm-up request (the first touches every model's code and pages), then the load.
curl -s -o "$work/warm.json" --data-binary @"$image" -H 'Content-Type: image/png' "$target"
answered=$(grep -o '"id":' "$work/warm.json" | wc -l)
echo "models answering each request: $answered ($query)"
echo "memory before: $(memory)"
start=$(date +%s.%N)
seq "$n" | xargs -P "$c" -I{} curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
  --data-binary @"$image" -H 'Content-Type: image/png' "$target" >"$work/times"
end=$(date +%s.%N)
echo "memory after:  $(memory)"
sort -k2 -g "$work/times" | awk -v n="$n" -v c="$c" -v start="$start" -v end="$end" '
  { status[$1]++; t[NR] = $2 }
  END {
    wall = end - start
    printf "%d requests, %d at a time, in %.1f s: %.1f requests/s\n", n, c, wall, n / wall
    printf "latency: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms\n",
      1000 * t[int(0.50 * NR + 0.5)], 1000 * t[int(0.90 * NR + 0.5)], 1000 * t[int(0.99 * NR + 0.5)], 1000 * t[NR]
    s = "statuses:"; for (k in status) s = s " " k " x" status[k]; print s
  }'
