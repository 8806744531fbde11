#!/usr/bin/env python3
"""Exports the UCI handwritten digits to data/digits.csv, once; the CSV is committed.

Provenance: the "Optical Recognition of Handwritten Digits" data set (Alpaydin & Kaynak, UCI
Machine Learning Repository, 1998), test part: 1,797 images of 8x8 pixels with values 0..16,
10 classes, as scikit-learn ships it (`sklearn.datasets.load_digits`, no download).

    pip install scikit-learn
    python3 scripts/export_digits.py            # writes data/digits.csv

Format: a header line, then one image per line: its label, then the 64 pixel values (row by
row), comma-separated. Rows keep scikit-learn's order; `nmsat train` makes the fixed
train/test split (every fifth image, from the 5th, to the test set: 1,438 / 359).
"""
import os

from sklearn.datasets import load_digits

d = load_digits()
out = os.path.join(os.path.dirname(__file__), "..", "data", "digits.csv")
with open(out, "w") as f:
    f.write("label," + ",".join(f"p{i}" for i in range(64)) + "\n")
    for x, y in zip(d.data.astype(int), d.target):
        f.write(f"{y}," + ",".join(str(v) for v in x) + "\n")
print(f"wrote {len(d.target)} images to {out}")
