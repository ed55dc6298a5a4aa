#!/usr/bin/env bash
# The search demonstration of docs/search.md, one command: a small CLIP
# trained from scratch on the procedural shapes (as tools/train-demo.sh
# trains it), a fresh synthetic set embedded into an index folder, and the
# query "a red circle" answered as a table and as an HTML page.
#
#   tools/search-demo.sh [OUT_DIR] [MODEL]      (default search-run; MODEL
#                                                 default: train one)
#
# MODEL: a trained model folder, e.g. the demo-run/run/latest that
# tools/train-demo.sh leaves; without it the script trains one first
# (STEPS=2400 trained in 50 s here at 3,400 samples/s on PoCL; the
# evaluation train-demo.sh adds is skipped). The whole script: about 1 min.
#
# Steps: [synth + tokenizer-train + train] -> clipcl synth (the set to search,
# another seed than training) -> embed-image --data into OUT/index (or, where
# embed-image has no --data yet, embed-image --out per shard plus the
# metadata and manifest written here in the same layout) -> clipcl search
# --text "a red circle" --html OUT/search.html -> the share of red circles
# among the top K, read from the captions.
#
# Environment: CLIPCL (the binary; default build/tools/clipcl, else clipcl on
# PATH), CLIPCL_DEVICE (default cpu), N (images in the searched set, default
# 5000), SHARD (rows per shard, default 1000), TOP (default 16), QUERY
# (default "a red circle"), and STEPS, BATCH, LR, WARMUP, N_TRAIN, SEED for
# the training as in tools/train-demo.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-search-run}
model=${2:-}
clipcl=${CLIPCL:-}
if [ -z "$clipcl" ]; then
    if [ -x "$here/../build/tools/clipcl" ]; then clipcl=$here/../build/tools/clipcl; else clipcl=clipcl; fi
fi
device=${CLIPCL_DEVICE:-cpu}
config=${CONFIG:-$here/demo/clip-tiny-vit.json}
n=${N:-5000}
shard=${SHARD:-1000}
top=${TOP:-16}
query=${QUERY:-a red circle}
steps=${STEPS:-2400}
batch=${BATCH:-64}
lr=${LR:-2e-3}
warmup=${WARMUP:-100}
n_train=${N_TRAIN:-10000}
seed=${SEED:-1}
size=$(sed -n 's/.*"image_size": *\([0-9]*\).*/\1/p' "$config")
vocab=$(sed -n 's/.*"vocab_size": *\([0-9]*\).*/\1/p' "$config")

mkdir -p "$out"
t0=$(date +%s)
stamp() { echo "[$(($(date +%s) - t0)) s] $*" >&2; }

if [ -z "$model" ]; then
    # As tools/train-demo.sh trains (same config, knobs and seed).
    stamp "synth: $n_train training images of ${size}px"
    "$clipcl" synth --out "$out/train-data" --n "$n_train" --size "$size" --seed "$seed" >&2
    awk -F, 'NR > 1 { print $2 }' "$out/train-data/train.csv" > "$out/captions.txt"
    stamp "tokenizer-train: BPE up to $vocab tokens"
    "$clipcl" tokenizer-train --corpus "$out/captions.txt" --vocab-size "$vocab" \
        --out "$out/tokenizer" >&2
    stamp "train: $steps steps of $batch pairs on $device"
    rm -rf "$out/run"
    "$clipcl" train --data "$out/train-data/train.csv" --model-config "$config" \
        --tokenizer "$out/tokenizer" --out "$out/run" --steps "$steps" --batch "$batch" \
        --lr "$lr" --warmup "$warmup" --seed "$seed" --log-every 100 --device "$device"
    model=$out/run/latest
fi

# The set to search: new images (another seed), same distribution.
set_dir=$out/set
stamp "synth: $n images to search"
"$clipcl" synth --out "$set_dir" --n "$n" --size "$size" --seed $((seed + 1000)) >&2

index=$out/index
rm -rf "$index"
if "$clipcl" embed-image --help | grep -q -- "--data"; then
    stamp "embed-image --data: $n images into $index"
    "$clipcl" embed-image --model "$model" --data "$set_dir/train.csv" --out "$index" \
        --shard-size "$shard" --device "$device" >&2
else
    # The agreed layout by hand (docs/search.md): one embed-image run per
    # shard, its metadata from the CSV (synth captions hold no commas or
    # quotes, and its paths are relative to the set's folder).
    stamp "embed-image: $n images into $index, $shard per shard"
    mkdir -p "$index"
    tail -n +2 "$set_dir/train.csv" > "$out/rows.csv"
    split -d -a 4 -l "$shard" "$out/rows.csv" "$out/part-"
    shards_json=""
    s=0
    for part in "$out"/part-*; do
        num=$(printf %04d "$s")
        files=()
        while IFS=, read -r path _; do files+=("$set_dir/$path"); done < "$part"
        "$clipcl" embed-image --model "$model" --normalize --device "$device" \
            --out "$index/img_emb_$num.npy" -- "${files[@]}" >&2
        { echo "key,path,member,caption"
          awk -F, '{ key = $1; sub(/^.*\//, "", key); sub(/\.[^.]*$/, "", key)
                     print key "," $1 ",," $2 }' "$part"; } > "$index/metadata_$num.csv"
        rows=$(wc -l < "$part")
        shards_json="$shards_json${shards_json:+, }{\"file\": \"img_emb_$num.npy\", \"metadata\": \"metadata_$num.csv\", \"rows\": $rows}"
        rm "$part"
        s=$((s + 1))
    done
    model_abs=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")
    # the width from the first shard's .npy header: "'shape': (rows, D)"
    dim=$(head -c 256 "$index/img_emb_0000.npy" | tr -d '\000' | LC_ALL=C sed -n "s/.*'shape': ([0-9]*, \([0-9]*\)).*/\1/p")
    set_abs=$(cd "$set_dir" && pwd)
    cat > "$index/manifest.json" <<EOF
{"kind": "image", "model": "$model_abs", "embed_dim": $dim,
 "normalized": true, "shard_size": $shard, "rows": $n, "shards": [$shards_json], "failed": 0,
 "data": "$set_abs/train.csv"}
EOF
fi

stamp "search: \"$query\", top $top"
"$clipcl" search --index "$index" --text "$query" --top "$top" --device "$device" \
    --root "$set_dir" --html "$out/search.html" | tee "$out/search.txt"
"$clipcl" search --index "$index" --text "$query" --top "$top" --device "$device" --json \
    > "$out/search.json"

rm -f "$out/rows.csv"

# How many of the top K show what the query names, by their captions: every
# word of the query but "a" (captions say "a red circle" or "a circle in red").
hits=$(awk -v q="$query" '
    BEGIN { n = split(q, w, " ") }
    /"caption":/ { ok = 1
                   for (i = 1; i <= n; i++) if (w[i] != "a" && index($0, w[i]) == 0) ok = 0
                   c += ok }
    END { print c + 0 }' "$out/search.json")
stamp "done"
echo "$hits of the top $top captions name every word of \"$query\"  (page: $out/search.html)"
