"""Tests for scripts/testdata.py (the real test corpus step).

Run from the repo root:  .venv/bin/python -m pytest tests/python/test_testdata.py
The first run fetches the pynetdicom wheel and the pyradiomics sdist into the
real cache (.testdata/cache) if they are not there yet (registry access only).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "testdata.py"
CACHE = REPO / ".testdata" / "cache"
CORPUS = REPO / ".testdata" / "corpus"

PYNETDICOM_WHL = "pynetdicom-3.0.4-py3-none-any.whl"
PYNETDICOM_SHA = "bc3f8869db4c90634336dfb02d7b6c249771e8b167e841254997a315d8e16f72"


def run_script(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_real(name: str) -> None:
    """Make sure artifact `name` (and its corpus outputs) exist in the real dirs."""
    p = run_script("--only", name)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.fixture
def corrupted_cache(tmp_path: Path) -> Path:
    real = CACHE / PYNETDICOM_WHL
    if not real.is_file() or sha256(real) != PYNETDICOM_SHA:
        ensure_real("pynetdicom")
    cache = tmp_path / "cache"
    cache.mkdir()
    bad = cache / PYNETDICOM_WHL
    shutil.copyfile(real, bad)
    data = bytearray(bad.read_bytes())
    for off in (0, len(data) // 2, len(data) - 1):
        data[off] ^= 0xFF
    bad.write_bytes(bytes(data))
    assert sha256(bad) != PYNETDICOM_SHA
    return cache


def test_corrupted_cache_file_is_refetched(corrupted_cache: Path, tmp_path: Path) -> None:
    bad_sha = sha256(corrupted_cache / PYNETDICOM_WHL)
    corpus = tmp_path / "corpus"
    p = run_script("--cache", str(corrupted_cache), "--corpus", str(corpus), "--only", "pynetdicom")
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    # one line naming the file, the expected and the actual digest
    lines = [ln for ln in out.splitlines() if "BAD DIGEST" in ln]
    assert len(lines) == 1, out
    assert PYNETDICOM_WHL in lines[0] and PYNETDICOM_SHA in lines[0] and bad_sha in lines[0]
    assert "refetched after bad digest" in out
    assert sha256(corrupted_cache / PYNETDICOM_WHL) == PYNETDICOM_SHA
    # only the cache file remains (no temp dirs left behind)
    assert sorted(x.name for x in corrupted_cache.iterdir()) == [PYNETDICOM_WHL]
    # and the wheel got unpacked into the corpus
    assert (corpus / "pynetdicom" / "pynetdicom" / "__init__.py").is_file()
    assert (corpus / "manifest.json").is_file()


def test_verify_only_fails_on_corrupted_file(corrupted_cache: Path) -> None:
    p = run_script("--cache", str(corrupted_cache), "--only", "pynetdicom", "--verify-only")
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert PYNETDICOM_WHL in out and "BAD DIGEST" in out
    # --verify-only never repairs anything
    assert sha256(corrupted_cache / PYNETDICOM_WHL) != PYNETDICOM_SHA


def test_verify_only_fails_on_missing_file(tmp_path: Path) -> None:
    p = run_script("--cache", str(tmp_path), "--only", "pynetdicom", "--verify-only")
    assert p.returncode != 0
    assert "MISSING" in p.stdout and PYNETDICOM_WHL in p.stdout


def test_verify_only_passes_on_good_file(tmp_path: Path) -> None:
    real = CACHE / PYNETDICOM_WHL
    if not real.is_file() or sha256(real) != PYNETDICOM_SHA:
        ensure_real("pynetdicom")
    shutil.copyfile(real, tmp_path / PYNETDICOM_WHL)
    p = run_script("--cache", str(tmp_path), "--only", "pynetdicom", "--verify-only")
    assert p.returncode == 0, p.stdout + p.stderr


def read_nrrd_independently(path: Path) -> tuple[np.ndarray, dict]:
    """Minimal NRRD reader for this check (kept separate from the script's reader)."""
    raw = path.read_bytes()
    sep = raw.index(b"\n\n")
    hdr = {}
    for line in raw[:sep].decode().splitlines()[1:]:
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            hdr[k.strip()] = v.strip()
    assert hdr["type"] == "short" and hdr["endian"] == "little" and hdr["encoding"] == "gzip"
    assert hdr["space"] == "left-posterior-superior"
    sx, sy, sz = (int(v) for v in hdr["sizes"].split())
    vol = np.frombuffer(gzip.decompress(raw[sep + 2:]), dtype="<i2").reshape(sz, sy, sx)
    return vol, hdr


def test_ct_lung1_series_reproduces_nrrd() -> None:
    if not (CORPUS / ".stamps" / "ct_lung1.json").is_file():
        ensure_real("pyradiomics")
    vol, hdr = read_nrrd_independently(CORPUS / "volumes" / "lung1_image.nrrd")
    assert vol.shape == (48, 512, 512)
    assert int(vol.min()) == -1024 and int(vol.max()) == 3071

    files = sorted((CORPUS / "ct_lung1").glob("*.dcm"))
    assert [f.name for f in files] == [f"IM{i:04d}.dcm" for i in range(1, 49)]

    origin = [float(v) for v in re.findall(r"[-+0-9.eE]+", hdr["space origin"])]
    dirs = [[float(v) for v in re.findall(r"[-+0-9.eE]+", d)]
            for d in re.findall(r"\([^)]*\)", hdr["space directions"])]
    series_uids, study_uids, sop_uids, positions = set(), set(), set(), []
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.Modality == "CT"
        assert (ds.Rows, ds.Columns) == (512, 512)
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (16, 12, 11, 0)
        assert (float(ds.RescaleIntercept), float(ds.RescaleSlope)) == (-1024.0, 1.0)
        assert int(ds.InstanceNumber) == k + 1
        hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, vol[k].astype(np.int32), err_msg=f"slice {k} ({f.name})")
        assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in ds.PixelSpacing] == pytest.approx([dirs[1][1], dirs[0][0]])
        assert float(ds.SliceThickness) == pytest.approx(5.0)
        ipp = [float(v) for v in ds.ImagePositionPatient]
        expect = [origin[i] + k * dirs[2][i] for i in range(3)]
        assert ipp == pytest.approx(expect, abs=1e-4)
        positions.append(ipp)
        series_uids.add(ds.SeriesInstanceUID)
        study_uids.add(ds.StudyInstanceUID)
        sop_uids.add(ds.SOPInstanceUID)
        for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID):
            assert len(uid) <= 64 and re.fullmatch(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))*", uid), uid

    assert len(series_uids) == 1 and len(study_uids) == 1 and len(sop_uids) == 48
    iop = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    normal = np.cross(iop[:3], iop[3:])
    proj = [float(np.dot(p, normal)) for p in positions]
    steps = np.diff(proj)
    assert np.all(steps > 0), proj
    assert steps == pytest.approx([5.0] * 47)
    assert proj[0] == pytest.approx(-777.5)


def test_conversion_is_deterministic(tmp_path: Path) -> None:
    """A second conversion into a fresh corpus gives byte-identical files."""
    if not (CORPUS / ".stamps" / "mr_brain1.json").is_file():
        ensure_real("pyradiomics")
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import testdata  # noqa: PLC0415
    finally:
        sys.path.remove(str(SCRIPT.parent))
    corpus = tmp_path / "corpus"
    (corpus / "volumes").mkdir(parents=True)
    shutil.copyfile(CORPUS / "volumes" / "brain1_image.nrrd", corpus / "volumes" / "brain1_image.nrrd")
    conv = next(c for c in testdata.CONVERSIONS if c.key == "mr_brain1")
    testdata.convert_volume(conv, corpus)
    ours = sorted((corpus / "mr_brain1").iterdir())
    assert len(ours) == 25
    for f in ours:
        assert f.read_bytes() == (CORPUS / "mr_brain1" / f.name).read_bytes(), f.name
