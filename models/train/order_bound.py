"""What a value-level LSBV model could reach in the codec's 2x2 parallel order.

An upper-bound style estimate, not a codec: for the middle 16 slices of a DICOM CT
series, every LSBV value is priced with the empirical distribution of its prediction
residual (a least-squares linear predictor per phase over what the decoder knows at that
point, residual histograms in 16 activity classes fitted on the same data), restricted to
the value's known MSBV bucket. The MSBV is priced by the smaller of JPEG XL effort 7 and
JPEG-LS per slice, as the codec's trial does. Slice 0 of the run is skipped (no previous
slice). Fitting on the data it prices makes the figure optimistic.

Two orders are priced:
  * `2x2`: the codec's phase-major order (phase 0 sees the MSBV and the previous slice;
    phase 1 also its four diagonal neighbours; phases 2 and 3 their four direct ones);
  * `rows`: a wavefront of two phases per row (even then odd columns), close to a raster
    scan, which no parallel order beats in context.

Usage (needs numpy, pydicom and imagecodecs, not in scripts/requirements.txt):
    python models/train/order_bound.py .testdata/corpus/ct_lung1 2x2 0,2,4,6
    python models/train/order_bound.py .testdata/corpus/ct_lung1 rows 4,8,12
"""
import glob
import sys

import imagecodecs
import numpy as np
import pydicom


def load(path):
    ds = [pydicom.dcmread(f) for f in sorted(glob.glob(path + "/*.dcm"))]
    ds.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    vol = np.stack([d.pixel_array.astype(np.int64) for d in ds])
    mid = vol.shape[0] // 2
    vol = vol[max(0, mid - 8): mid + 8]
    return vol - vol.min()


def jxl_bits(img, effort):
    return 8 * len(imagecodecs.jpegxl_encode(img.astype(np.uint16), lossless=True, effort=effort))


def jls_bits(img):
    return 8 * len(imagecodecs.jpegls_encode(img.astype(np.uint16)))


def shift(a, dy, dx):
    """The neighbour at (y + dy, x + dx) of every pixel, edges replicated."""
    p = np.pad(a, 2, mode="edge")
    return p[2 + dy: 2 + dy + a.shape[0], 2 + dx: 2 + dx + a.shape[1]]


def box(a, r):
    n = (2 * r + 1) ** 2
    return sum(shift(a, dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1)) / n


def contexts_2x2(cur, mc, prev, nxt):
    """Features and activity per phase of the codec's 2x2 phase-major order."""
    m3, m5, prev3 = box(mc, 1), box(mc, 2), box(prev, 1)
    diag_cells = [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    direct_cells = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    diag = sum(shift(cur, *c) for c in diag_cells) / 4.0
    direct = sum(shift(cur, *c) for c in direct_cells) / 4.0
    dact = sum(np.abs(shift(cur, *c) - diag) for c in diag_cells) / 4.0
    ract = sum(np.abs(shift(cur, *c) - direct) for c in direct_cells) / 4.0
    mact = np.abs(mc - m3) + np.abs(prev - prev3)
    base = [mc, m3, m5, prev, prev3, nxt, np.ones_like(m3)]
    feats = [base, base + [diag], base + [diag, direct], base + [diag, direct]]
    acts = [mact, dact + 0.5 * mact, ract + 0.5 * mact, ract + 0.5 * mact]
    return feats, acts


def contexts_rows(cur, mc, prev, nxt):
    """Features and activity of a two-phase-per-row wavefront (even, then odd columns)."""
    m3, m5, prev3 = box(mc, 1), box(mc, 2), box(prev, 1)
    n, nw, ne, nn = shift(cur, -1, 0), shift(cur, -1, -1), shift(cur, -1, 1), shift(cur, -2, 0)
    w, e, ww, ee = shift(cur, 0, -1), shift(cur, 0, 1), shift(cur, 0, -2), shift(cur, 0, 2)
    wm, em, sm = shift(mc, 0, -1), shift(mc, 0, 1), shift(mc, 1, 0)
    base = [mc, m3, m5, prev, prev3, nxt, np.ones_like(m3), n, nw, ne, nn, sm]
    feats = [base + [wm, em, n + wm - nw], base + [w, e, ww, ee, n + w - nw]]
    a0 = np.abs(n - nw) + np.abs(n - ne) + np.abs(n - nn) + np.abs(mc - m3) + np.abs(prev - prev3)
    a1 = np.abs(w - e) + np.abs(n - nw) + np.abs(n - ne) + np.abs(w - ww) + np.abs(e - ee)
    return feats, [a0, a1]


def price(v, d, order):
    z_count, h, w = v.shape
    yy, xx = np.mgrid[0:h, 0:w]
    if order == "2x2":
        phase = np.select([(yy % 2 == 0) & (xx % 2 == 0), (yy % 2 == 1) & (xx % 2 == 1), yy % 2 == 0], [0, 1, 2], 3)
        contexts, phases = contexts_2x2, 4
    else:
        phase, contexts, phases = xx % 2, contexts_rows, 2
    msb = v >> d
    msbv_bits = sum(min(jxl_bits(s, 7), jls_bits(s)) for s in msb) / v.size
    centre = (msb << d) + ((1 << d) >> 1)
    rows = {p: ([], [], []) for p in range(phases)}
    for z in range(1, z_count):
        nxt = centre[z + 1] if z + 1 < z_count else centre[z]
        feats, acts = contexts(v[z], centre[z], v[z - 1], nxt)
        for p in range(phases):
            sel = phase == p
            rows[p][0].append(np.stack([f[sel] for f in feats[p]], 1))
            rows[p][1].append(v[z][sel])
            rows[p][2].append(acts[p][sel])
    total, count, per_phase = 0.0, 0, []
    for p in range(phases):
        x, y, a = (np.concatenate(r) for r in rows[p])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        pred = np.rint(x @ coef).astype(np.int64)
        cls = np.searchsorted(np.quantile(a, np.linspace(0, 1, 17)[1:-1]), a)
        r_max = 4096
        resid = np.clip(y - pred, -r_max, r_max) + r_max
        lo = np.clip(((y >> d) << d) - pred, -r_max, r_max + 1) + r_max
        hi = np.clip(((y >> d) << d) + (1 << d) - pred, -r_max, r_max + 1) + r_max
        bits = 0.0
        for c in range(16):
            s = cls == c
            hist = np.bincount(resid[s], minlength=2 * r_max + 1) + 0.02
            cdf = np.concatenate([[0.0], np.cumsum(hist)])
            bits += np.sum(np.log2((cdf[hi[s]] - cdf[lo[s]]) / hist[resid[s]]))
        per_phase.append(bits / len(y))
        total, count = total + bits, count + len(y)
    return msbv_bits, total / count, per_phase


def main():
    path, order, ds = sys.argv[1], sys.argv[2], [int(d) for d in sys.argv[3].split(",")]
    v = load(path)
    print(f"{path}: {v.shape}, JPEG XL e9 {sum(jxl_bits(s, 9) for s in v) / v.size:.3f} bits/voxel")
    for d in ds:
        msbv, lsbv, per_phase = price(v, d, order)
        phases = " ".join(f"{b:.2f}" for b in per_phase)
        print(f"{order} d={d}: MSBV {msbv:.3f} + LSBV {lsbv:.3f} = {msbv + lsbv:.3f} bits/voxel (LSBV per phase {phases})")


if __name__ == "__main__":
    main()
