#!/usr/bin/env python3
"""Prints the README's recipe table: test accuracy and modelled speedup over dense training of
the digits CNN for every recipe at 1:4, 2:4, 2:8 and 1:8 (f32 functional mode, sat-vcu1525,
10 epochs, batch 32, seed 1), each cell one `nmsat train --json` run.

    cargo build --release && python3 scripts/train_table.py
"""
import json
import subprocess

PATTERNS = ["1:4", "2:4", "2:8", "1:8"]
RECIPES = ["bdwp", "srste", "mdgf-linear", "mdgf-exp", "sdgf"]


def run(recipe, nm):
    cmd = ["target/release/nmsat", "train", "--model", "digits-cnn", "--dataset", "digits",
           "--recipe", recipe, "--nm", nm, "--epochs", "10", "--seed", "1", "--json"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


dense = run("dense", "2:8")
print(f"dense: {dense['final_test_accuracy'] * 100:.2f}% test accuracy, "
      f"{dense['dense_cycles_per_iteration']} cycles per iteration, "
      f"{dense['host_seconds_per_epoch']:.3f} s per epoch on the host")
print()
print("| recipe | " + " | ".join(PATTERNS) + " |")
print("|---|" + "---:|" * len(PATTERNS))
for recipe in RECIPES:
    cells = []
    for nm in PATTERNS:
        r = run(recipe, nm)
        cells.append(f"{r['final_test_accuracy'] * 100:.1f}% · {r['speedup']:.2f}×")
    print(f"| {recipe} | " + " | ".join(cells) + " |")
