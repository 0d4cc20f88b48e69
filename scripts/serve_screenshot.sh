#!/usr/bin/env bash
# Takes docs/serve.png: the web page's first screen with every shipped model, in headless
# Chromium (tests/browser.mjs drives it), once the page has classified a held-out CIFAR-10 image.
#
#   KINDLING_DATA=/path/to/data scripts/serve_screenshot.sh [OUT.png]
#
# Needs chromium and node (apt-get install -y chromium nodejs), a release build of the serve
# example, and KINDLING_DATA with CIFAR-10 (the kNN rung and the held-out images).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/docs/serve.png}")
work=$(mktemp -d)
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$root/target/release/examples/serve" --port 0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 600); do
  grep -q "http://" "$work/out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.2
done
url=$(grep -o 'http://[^ ]*' "$work/out" | head -1)
echo "$(head -1 "$work/out")"
# The upload the script also makes (the first screen is what is kept): any 32x32 PNG.
curl -s -o "$work/upload.png" "${url}api/random?dataset=cifar10"
CHROMIUM=$(command -v chromium) URL="$url" UPLOAD="$work/upload.png" SCREENSHOT="$work/after-upload.png" \
  PROFILE="$work/profile" HELD_OUT=1 FIRST_SCREENSHOT="$out" \
  node --experimental-websocket "$root/tests/browser.mjs" >/dev/null
echo "wrote $out"
