#!/usr/bin/env bash
# Issue 16's GPU check in one run: the CUDA tests, the GPU-stage table (720p and 1080p,
# eager vs CUDA graph, fp16 vs fp32: FPS, p50/p99 ms, mask difference), the pipeline's
# per-stage table on CUDA, and the app writing a file on CUDA. About 2-4 minutes.
#
#   1. On a machine with internet (the dev box), once, from the repo root:
#          bash scripts/gpu_check.sh --fetch
#      puts into .gpu_check/ (git-ignored, ~37 MB): wheels of the packages a GPU box may lack
#      (pytest and its pure-Python dependencies; PyAV, which the file sink encodes with: an
#      abi3 wheel for CPython >= 3.11 on manylinux_2_28 x86-64, AV_PYTHON=3.10 for another)
#      and ../shared/videos/s18.mp4 when present.
#      The GPU path needs neither segmentation-models-pytorch nor safetensors (livebg/gpu/
#      weights.py rebuilds the network and reads the file itself), nor PyQt6, pyvirtualcam
#      or mediapipe.
#   2. On the GPU machine, from the repo root (it needs torch with CUDA, timm, onnxruntime,
#      opencv; nothing is fetched from the network there):
#          bash scripts/gpu_check.sh --out DIR
#      With the device tool: run(command="bash scripts/gpu_check.sh --out $OUT",
#      carry=[".gpu_check"], timeout_s=420).
#      Missing packages are installed from .gpu_check/wheels into .gpu_check/site (never into
#      the machine's environment); a step whose requirement is missing reports SKIP.
#
# Every step prints PASS / FAIL / SKIP and a failing step does not stop the next ones; DIR
# (default gpu_check_out/) gets summary.txt (the tables and verdicts), one log per step,
# gpu_stage.json, bench_*.json and frames of the app's output as PNG.
# --device cpu runs the same steps on the CPU, small, to check this script without a GPU.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE="$ROOT/.gpu_check"
OUT="$ROOT/gpu_check_out"
DEVICE=cuda
FETCH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --fetch) FETCH=1; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "gpu_check: unknown argument $1 (use --fetch, --out DIR, --device cpu|cuda)" >&2
       exit 2 ;;
  esac
done
PY=${PYTHON:-$(command -v python || command -v python3)}
# pytest and what it needs (exceptiongroup, tomli: Python 3.10 only)
WHEELS="pytest pluggy iniconfig packaging pygments exceptiongroup tomli"

if [ "$FETCH" = 1 ]; then
  mkdir -p "$CACHE/wheels"
  # pure-Python wheels only: they install on whatever Python the GPU box has
  "$PY" -m pip download --only-binary=:all: --no-deps --python-version 3.10 -d "$CACHE/wheels" \
    $WHEELS || exit 1
  "$PY" -m pip download --only-binary=:all: --no-deps --python-version "${AV_PYTHON:-3.11}" \
    --platform manylinux_2_28_x86_64 -d "$CACHE/wheels" "av>=14" || exit 1
  if [ -f "$ROOT/../shared/videos/s18.mp4" ]; then cp "$ROOT/../shared/videos/s18.mp4" "$CACHE/"; fi
  du -sh "$CACHE"; ls "$CACHE" "$CACHE/wheels"
  echo "gpu_check: fetched; carry .gpu_check to the GPU machine and run: bash scripts/gpu_check.sh --out DIR"
  exit 0
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }
verdicts=()
result() { verdicts+=("$1: $2"); say "== $1: $2"; }
export QT_QPA_PLATFORM=offscreen PYTHONUNBUFFERED=1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)

# ---------------------------------------------------------------- 0. environment
say "== environment ($(date -u +%FT%TZ))"
"$PY" - <<'EOF' 2>&1 | tee -a "$SUMMARY"
import importlib, platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("torch", "torchvision", "timm", "onnxruntime", "cv2", "numpy", "pytest",
             "segmentation_models_pytorch", "safetensors", "PyQt6", "av", "pyvirtualcam",
             "mediapipe"):
    try:
        module = importlib.import_module(name)
        print(f"  {name:28} {getattr(module, '__version__', 'present')}")
    except Exception as exc:  # noqa: BLE001 - report, never stop
        print(f"  {name:28} missing ({type(exc).__name__})")
try:
    import torch
    print("cuda available:", torch.cuda.is_available(), "| torch CUDA", torch.version.cuda,
          "| cuDNN", torch.backends.cudnn.version())
    if torch.cuda.is_available():
        print("device:", torch.cuda.get_device_name(0))
except Exception as exc:  # noqa: BLE001
    print("torch unusable:", exc)
EOF
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
  --format=csv,noheader 2>&1 | tee -a "$SUMMARY"

if [ "$DEVICE" = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" \
    2>/dev/null; then
  result environment "FAIL (torch sees no CUDA GPU: nothing on the GPU can run; --device cpu checks the script itself)"
  exit 1
fi

# ---------------------------------------------------------------- 1. what is missing
missing=$("$PY" -c "
import importlib.util as u
print(' '.join(m for m in ('pytest', 'pluggy', 'iniconfig', 'packaging', 'pygments', 'av')
               if u.find_spec(m) is None))")
if [ -n "$missing" ]; then
  if [ -d "$CACHE/wheels" ]; then
    say "== installing from .gpu_check/wheels into .gpu_check/site: $missing"
    install() {
      "$PY" -m pip install --no-index --no-deps --find-links "$CACHE/wheels" \
        --target "$CACHE/site" "$@" >>"$OUT/install.log" 2>&1 || say "   (pip could not install $*: see install.log)"
    }
    case " $missing " in *" av "*) install av ;; esac
    [ "$missing" = av ] || install $WHEELS
    export PYTHONPATH="$PYTHONPATH:$CACHE/site"
  else
    say "== missing: $missing, and no .gpu_check/wheels (run --fetch on a machine with internet)"
  fi
fi

# clips: s18 (1280x720, a real person) when carried or next to the checkout, else the sample;
# the clips and the app's video go to a scratch folder, only logs and pictures to DIR
CLIP=$("$PY" -c "from livebg.cli import sample_clip; print(sample_clip())" 2>/dev/null)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for c in "$CACHE/s18.mp4" "$ROOT/../shared/videos/s18.mp4" "$ROOT/shared/videos/s18.mp4"; do
  if [ -f "$c" ]; then CLIP="$c"; break; fi
done
if [ "$DEVICE" = cuda ]; then SIZES="1280x720 1920x1080"; FRAMES=600; else SIZES="320x180"; FRAMES=5; fi
"$PY" - "$CLIP" "$WORK" $SIZES <<'EOF' 2>&1 | tee -a "$SUMMARY"
import sys, cv2
clip, out, sizes = sys.argv[1], sys.argv[2], sys.argv[3:]
cap = cv2.VideoCapture(clip)
frames = []
while len(frames) < 150:
    ok, frame = cap.read()
    if not ok:
        break
    frames.append(frame)
for size in sizes:
    w, h = map(int, size.split("x"))
    writer = cv2.VideoWriter(f"{out}/clip_{size}.mp4", cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
    for frame in frames:
        writer.write(cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR))
    writer.release()
print(f"clips: {len(frames)} frames of {clip} at {' '.join(sizes)}")
EOF

# ---------------------------------------------------------------- 2. CUDA tests
say "== tests (log: tests.log)"
if "$PY" -c "import pytest" 2>/dev/null; then
  timeout 240 "$PY" -m pytest -q -p no:cacheprovider -rs tests/test_gpu_stage.py \
    "tests/test_segment.py::test_cuda_fp16_matches_onnx_cpu" \
    "tests/test_segment.py::test_torch_fp16_path_matches_onnx" >"$OUT/tests.log" 2>&1
  rc=$?
  tail -n 25 "$OUT/tests.log" | tee -a "$SUMMARY"
  if [ $rc = 0 ]; then
    if [ "$DEVICE" = cuda ] && grep -q "SKIPPED.*no CUDA" "$OUT/tests.log"; then
      result tests "FAIL (CUDA tests skipped although this machine has CUDA)"
    else
      result tests PASS
    fi
  else
    result tests "FAIL (pytest exit $rc)"
  fi
else
  result tests "SKIP (no pytest and no wheel for it: run --fetch and carry .gpu_check)"
fi

# ---------------------------------------------------------------- 3. the GPU stage table
say "== GPU stage: eager vs graph, fp16 vs fp32 (log: gpu_stage.log)"
timeout 240 "$PY" -m livebg.gpu.bench --device "$DEVICE" --input "$CLIP" --sizes $SIZES \
  --frames "$FRAMES" --model unet+alt --json "$OUT/gpu_stage.json" >"$OUT/gpu_stage.log" 2>&1
rc=$?
sed -n '/^ *size |/,$p' "$OUT/gpu_stage.log" | tee -a "$SUMMARY"
if [ $rc != 0 ]; then
  tail -n 15 "$OUT/gpu_stage.log" | tee -a "$SUMMARY"
  result gpu-stage "FAIL (exit $rc)"
elif [ "$DEVICE" != cuda ]; then
  result gpu-stage "PASS (CPU smoke run: no targets)"
elif grep -q "^FAIL" "$OUT/gpu_stage.log"; then
  result gpu-stage "FAIL ($(grep -c '^FAIL' "$OUT/gpu_stage.log") target(s) missed, above)"
else
  result gpu-stage PASS
fi

# ---------------------------------------------------------------- 4. the pipeline, per stage
for size in $SIZES; do
  for graph in 1 0; do
    name="bench_${size}_graph$graph"
    say "== livebg bench --device $DEVICE, $size, LIVEBG_CUDA_GRAPH=$graph (log: $name.log)"
    LIVEBG_CUDA_GRAPH=$graph timeout 120 "$PY" -m livebg bench --input "$WORK/clip_$size.mp4" \
      --model unet+alt --device "$DEVICE" --frames 300 --warmup 30 --json "$OUT/$name.json" \
      >"$OUT/$name.log" 2>&1
    rc=$?
    grep -v "^benchmarking" "$OUT/$name.log" | tail -n 8 | tee -a "$SUMMARY"
    [ $rc = 0 ] && result "$name" PASS || result "$name" "FAIL (exit $rc)"
  done
  [ "$DEVICE" = cuda ] || break
done

# ---------------------------------------------------------------- 5. the app writes a file
say "== livebg --device $DEVICE --input $(basename "$CLIP") --output app.mp4 --no-window (log: app.log)"
timeout 120 "$PY" -m livebg --device "$DEVICE" --input "$CLIP" --output "$WORK/app.mp4" \
  --no-window >"$OUT/app.log" 2>&1
rc=$?
tail -n 5 "$OUT/app.log" | tee -a "$SUMMARY"
if [ $rc != 0 ]; then
  if grep -q "No module named" "$OUT/app.log"; then
    result app "SKIP (a module the file sink needs is missing: $(grep -o "No module named '[^']*'" "$OUT/app.log" | head -1))"
  else
    result app "FAIL (exit $rc)"
  fi
else
  "$PY" - "$CLIP" "$OUT" "$WORK/app.mp4" <<'EOF' 2>&1 | tee -a "$SUMMARY"
import sys, cv2, numpy as np
clip, out, video = sys.argv[1], sys.argv[2], sys.argv[3]
def frames(path):
    cap = cv2.VideoCapture(path)
    while True:
        ok, f = cap.read()
        if not ok:
            return
        yield f
pairs = list(zip(frames(clip), frames(video)))
n_in = sum(1 for _ in frames(clip))
n_out = sum(1 for _ in frames(video))
i = min(100, len(pairs) - 1)
a, b = pairs[i]
changed = float((np.abs(a.astype(int) - b).max(axis=2) > 12).mean())
cv2.imwrite(f"{out}/app_frame{i}.png", np.hstack([a, b]))
ok = n_in == n_out and 0.05 < changed < 0.95
print(f"frames in {n_in}, out {n_out}; frame {i}: {100 * changed:.1f}% of pixels changed by the "
      f"background (app_frame{i}.png: input | output)")
print("APP_OK" if ok else "APP_BAD")
EOF
  if grep -q APP_OK "$SUMMARY"; then result app PASS; else result app "FAIL (frame count or background, above)"; fi
fi

say ""
say "== summary ($(( $(date +%s) - START )) s)"
for v in "${verdicts[@]}"; do say "   $v"; done
printf '%s\n' "${verdicts[@]}" | grep -q FAIL && exit 1
exit 0
