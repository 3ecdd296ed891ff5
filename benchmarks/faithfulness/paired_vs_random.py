#!/usr/bin/python3
"""Checks an evaluate run's table from its per-image curves, and compares each method with the random baseline paired
image by image.

    /usr/bin/python3 benchmarks/faithfulness/paired_vs_random.py OUT_DIR/results.jsonl [OUT_DIR/faithfulness.json]

1. Recomputes every image's AUC from its curve with numpy, independently of the library: perturbation
   np.trapz(y, x = 0, 0.1, …, 0.9) · 100; deletion/insertion np.trapz(y, x = n_k / N) with n_k = min(k · p, N). The
   largest difference from the AUC the library logged, and (given faithfulness.json) from the table's means, is printed.
2. For each method and test: the mean over images of (AUC_method − AUC_random), its standard error, t = mean / SE,
   and the share of images where the method is better than random, worse, or tied. "Better" is lower for positive
   perturbation and deletion, higher for negative perturbation and insertion.
Needs numpy.
"""
import json
import sys
from collections import defaultdict

import numpy as np

lower_is_better = {"positive": True, "negative": False, "deletion": True, "insertion": False}
auc = defaultdict(dict)  # (method, metric) -> {image: auc}
worst_logged = 0.0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "error" in r:
        continue
    n, p = r["patches"], r["patchesPerStep"]
    for c in r["curves"]:
        y = np.array(c["y"], dtype=np.float64)
        if c["metric"] in ("positive", "negative"):
            x = np.arange(len(y)) / 10.0
            mine = np.trapz(y, x) * 100
        else:
            x = np.minimum(np.arange(len(y)) * p, n) / n
            mine = np.trapz(y, x)
        worst_logged = max(worst_logged, abs(mine - c["auc"]))
        auc[(c["method"], c["metric"])][r["image"]] = mine

print(f"largest |numpy AUC - logged AUC| over all images and curves: {worst_logged:.2e}")
if len(sys.argv) > 2:
    table = json.load(open(sys.argv[2]))
    worst = max(abs(np.mean(list(auc[(t["method"], t["metric"])].values())) - t["auc"]["mean"]) for t in table["results"])
    print(f"largest |numpy mean AUC - table mean AUC|: {worst:.2e}")

print()
print("| method | test | mean AUC | random | paired difference ± SE | t | better / worse / tied vs random |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
methods = sorted({m for m, _ in auc if m != "random"}, key=lambda m: (m != "rollout", m))
for m in methods:
    for metric in ("positive", "negative", "deletion", "insertion"):
        if (m, metric) not in auc:
            continue
        a, r = auc[(m, metric)], auc[("random", metric)]
        keys = sorted(set(a) & set(r))
        d = np.array([a[k] - r[k] for k in keys])
        se = d.std(ddof=1) / np.sqrt(len(d))
        sign = -1 if lower_is_better[metric] else 1
        better, worse = int(np.sum(sign * d > 0)), int(np.sum(sign * d < 0))
        digits = 2 if metric in ("positive", "negative") else 3
        print(f"| {m} | {metric} | {np.mean([a[k] for k in keys]):.{digits}f} | {np.mean([r[k] for k in keys]):.{digits}f} | "
              f"{d.mean():+.{digits}f} ± {se:.{digits}f} | {d.mean() / se:+.1f} | {better} / {worse} / {len(d) - better - worse} |")
