#!/usr/bin/env bash
# The training demonstration of docs/training.md ("Demonstration"), one
# command: a small CLIP trained from scratch on the procedural shapes dataset
# on one OpenCL device (PoCL on the CPU by default), then evaluated the CLIP
# paper's way and summed up in one table.
#
#   tools/train-demo.sh [OUT_DIR]          (default demo-run)
#
# Steps: clipcl synth (train set + held-out images of seen and of
# never-captioned (shape, colour) pairs) -> clipcl tokenizer-train (BPE on
# the training captions, no OpenAI vocabulary) -> clipcl train (the config
# tools/demo/clip-tiny-vit.json) -> clipcl plot (loss and temperature PNG) ->
# clipcl eval (zero-shot, linear probe, few-shot) -> OUT/table.md.
#
# Environment: CLIPCL (the binary; default build/tools/clipcl, else clipcl on
# PATH), CLIPCL_DEVICE (default cpu), and the knobs below (STEPS, BATCH, LR,
# WARMUP, N_TRAIN, N_HELDOUT, N_PROBE, SEED) to trade time for accuracy.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-demo-run}
clipcl=${CLIPCL:-}
if [ -z "$clipcl" ]; then
    if [ -x "$here/../build/tools/clipcl" ]; then clipcl=$here/../build/tools/clipcl; else clipcl=clipcl; fi
fi
device=${CLIPCL_DEVICE:-cpu}
config=${CONFIG:-$here/demo/clip-tiny-vit.json}
steps=${STEPS:-2400}
batch=${BATCH:-64}
lr=${LR:-2e-3}
warmup=${WARMUP:-100}
n_train=${N_TRAIN:-10000}
n_heldout=${N_HELDOUT:-1000}
n_probe=${N_PROBE:-2000}
seed=${SEED:-1}
size=$(sed -n 's/.*"image_size": *\([0-9]*\).*/\1/p' "$config")
vocab=$(sed -n 's/.*"vocab_size": *\([0-9]*\).*/\1/p' "$config")
# The captions' own phrasings (io/synth.c), ensembled.
templates=(--template "a photo of a {}" --template "a {}" --template "a picture of a {}")

mkdir -p "$out"
data=$out/data
t0=$(date +%s)
stamp() { echo "[$(($(date +%s) - t0)) s] $*" >&2; }

stamp "synth: $n_train training images of ${size}px, $n_heldout per held-out split"
"$clipcl" synth --out "$data" --n "$n_train" --size "$size" --seed "$seed" --holdout \
    --n-holdout "$n_heldout" >&2

# The caption column of train.csv (synth captions hold no commas or quotes).
awk -F, 'NR > 1 { print $2 }' "$data/train.csv" > "$out/captions.txt"
stamp "tokenizer-train: BPE up to $vocab tokens on the training captions"
"$clipcl" tokenizer-train --corpus "$out/captions.txt" --vocab-size "$vocab" \
    --out "$out/tokenizer" >&2

# The probes are fit on the features of the first n_probe training images.
head -n $((n_probe + 1)) "$data/train.csv" > "$data/probe_train.csv"

stamp "train: $steps steps of $batch pairs on $device"
t_train=$(date +%s)
rm -rf "$out/run"
"$clipcl" train --data "$data/train.csv" --model-config "$config" --tokenizer "$out/tokenizer" \
    --out "$out/run" --steps "$steps" --batch "$batch" --lr "$lr" --warmup "$warmup" \
    --seed "$seed" --log-every 100 --device "$device"
train_s=$(($(date +%s) - t_train))
stamp "train: done in $train_s s"

"$clipcl" plot "$out/run/log.jsonl" --out "$out/curves.png" \
    --title "clip-tiny-vit: $steps steps x $batch pairs, from scratch on $device" >&2

# One eval per (label, held-out split): zero-shot, the linear probe and (pairs
# of seen images only, the slowest part) few-shot, both fit on the frozen
# features of the first n_probe training images and tested on the split.
model=$out/run/latest
ev() { # NAME LABEL SPLIT PROBES(none|lp|lp+fs) TEMPLATE-ARGS...
    local name=$1 label=$2 split=$3 probes=$4
    shift 4
    local args=(--model "$model" --label-key "$label" --zeroshot "$data/heldout_$split.csv"
                "$@" --device "$device" --json)
    if [ "$probes" != none ]; then
        args+=(--linear-probe "$data/probe_train.csv" --probe-test "$data/heldout_$split.csv")
    fi
    if [ "$probes" = lp+fs ]; then
        args+=(--few-shot "$data/probe_train.csv")
    fi
    "$clipcl" eval "${args[@]}" > "$out/eval_$name.json"
}
# Captions never name a shape without its colour, so a shape's prompts are
# ensembled over the eight colours (io/synth.c) - prompt engineering as in
# the CLIP paper, no training data involved.
shape_templates=()
for c in red green blue yellow purple orange cyan pink; do
    shape_templates+=(--template "a photo of a $c {}" --template "a $c {}")
done
stamp "eval: zero-shot, linear probe, few-shot"
ev pair_seen class_pair seen lp+fs "${templates[@]}"
# No training image shows a never-captioned pair: nothing to fit a probe on.
ev pair_unseen class_pair unseen none "${templates[@]}"
ev shape_seen class_shape seen lp "${shape_templates[@]}"
ev shape_unseen class_shape unseen lp "${shape_templates[@]}"
total_s=$(($(date +%s) - t0))

# Pretty JSON puts one key per line: pick values by key, as percentages.
pick() { # FILE SECTION KEY -> "12.3" or "—"
    awk -v sec="\"$2\"" -v key="\"$3\"" '
        index($0, sec ":") { insec = 1 }
        insec && index($0, key ":") { v = $0; sub(/.*: */, "", v); sub(/,$/, "", v);
                                      printf "%.1f", 100 * v; found = 1; exit }
        END { if (!found) printf "—" }' "$1"
}
shots() { # FILE -> "k=1 a / k=2 b / ..." few-shot top-1 means
    awk '/"k":/ { k = $2; sub(/,/, "", k) }
         /"top1_mean":/ { v = $2; sub(/,/, "", v); s = s sep sprintf("%.1f", 100 * v); sep = " / " }
         END { printf "%s", s == "" ? "—" : s }' "$1"
}
{
    echo "| labels | held-out images | classes | chance | zero-shot top-1 | linear probe top-1 | few-shot top-1, k = 1 / 2 / 4 / 8 / 16 |"
    echo "| --- | --- | ---: | ---: | ---: | ---: | --- |"
    for row in "pair seen" "pair unseen" "shape seen" "shape unseen"; do
        set -- $row
        f=$out/eval_$1_$2.json
        what=$([ "$2" = seen ] && echo "seen pairs" || echo "never-captioned pairs")
        classes=$(awk '/"classes":/ { v = $2; sub(/,/, "", v); print v; exit }' "$f")
        echo "| $1 | $what | $classes | $(pick "$f" zeroshot chance_top1)% | $(pick "$f" zeroshot top1)% |" \
             "$(pick "$f" linear_probe top1)% | $(shots "$f") |"
    done
    echo
    echo "Wall time: training $train_s s, whole demonstration $total_s s (device: $device)."
} | sed 's/—%/—/g' > "$out/table.md"
cat "$out/table.md"
echo "curves: $out/curves.png   checkpoint: $model"
