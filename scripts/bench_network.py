"""Network benchmark: Strata side by side with DCMTK storescp and Orthanc, in
one run on the same machine and the same data.

Run with the project's virtualenv after `cargo build --release`:

    .venv/bin/python scripts/bench_network.py [SERIES_DIR ...]

(default: the converted CT series ct_lung1, ct_lung2, ct_totalseg_aorta of
the test corpus). Every peer listens on loopback on a free port. Prints a
Markdown table for docs/benchmarks.md:

- ingest: wall time of one `storescu +sd` run per series, per peer;
- stored bytes: Strata after `strata compress-pending` (what it keeps once
  series are stable), Orthanc with StorageCompression (zlib) on, and the
  files storescp wrote;
- retrieve, after Strata compressed the series: `getscu` of each whole
  series (Strata and Orthanc), `movescu` to a local storescp, and IMAGE-level
  `getscu` of every slice one by one.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRATA = ROOT / "target/release/strata"
CORPUS = Path(os.environ.get("STRATA_TESTDATA", ROOT / ".testdata/corpus"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def du(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def tag(path, key):
    out = subprocess.run(["dcmdump", "-q", "+P", key, str(path)], capture_output=True, text=True).stdout
    return out.split("[", 1)[1].split("]", 1)[0] if "[" in out else ""


def main():
    series = [Path(p) for p in sys.argv[1:]] or [CORPUS / n for n in ("ct_lung1", "ct_lung2", "ct_totalseg_aorta")]
    work = Path(tempfile.mkdtemp(prefix="strata-bench-"))
    procs = []
    try:
        ports = {name: free_port() for name in ("strata", "orthanc", "storescp", "sink", "orthanc_http")}
        # Strata: release binary, its own data dir; series compressed on demand.
        (work / "strata").mkdir()
        cfg = work / "strata/strata.toml"
        cfg.write_text(f'[storage]\nstable_after_s = 3600\n[move_destinations]\nSINK = {{ host = "127.0.0.1", port = {ports["sink"]} }}\n')
        procs.append(subprocess.Popen([STRATA, "serve", "--config", cfg, "--port", str(ports["strata"]), "--data-dir", "var"],
                                      cwd=work / "strata", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # DCMTK storescp writing to disk.
        (work / "storescp").mkdir()
        procs.append(subprocess.Popen(["storescp", "-od", work / "storescp", str(ports["storescp"])],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # A storescp sink for C-MOVE.
        (work / "sink").mkdir()
        procs.append(subprocess.Popen(["storescp", "-od", work / "sink", str(ports["sink"])],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # Orthanc: default configuration plus storage compression (zlib).
        (work / "orthanc").mkdir()
        ocfg = work / "orthanc/orthanc.json"
        ocfg.write_text(json.dumps({
            "Name": "BENCH", "StorageDirectory": str(work / "orthanc/db"), "IndexDirectory": str(work / "orthanc/db"),
            "DicomAet": "ORTHANC", "DicomPort": ports["orthanc"], "HttpPort": ports["orthanc_http"],
            "RemoteAccessAllowed": False, "StorageCompression": True, "DicomCheckCalledAet": False,
            "DicomAlwaysAllowGet": True, "DicomAlwaysAllowMove": True, "DicomAlwaysAllowFind": True,
            "DicomModalities": {"SINK": ["SINK", "127.0.0.1", ports["sink"]]},
            "Plugins": [],
        }))
        procs.append(subprocess.Popen(["Orthanc", str(ocfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for p in ("strata", "orthanc", "storescp", "sink"):
            wait_port(ports[p])
        rows = []
        for s in series:
            files = sorted(f for f in s.iterdir() if f.is_file())
            raw = sum(f.stat().st_size for f in files)
            row = {"series": s.name, "files": len(files), "MB": raw / 1e6, "paths": files}
            for peer, aec in (("storescp", "ANY-SCP"), ("strata", "STRATA"), ("orthanc", "ORTHANC")):
                row[f"store_{peer}"] = timed(["storescu", "-aec", aec, "127.0.0.1", str(ports[peer]), "+sd", str(s)])
            rows.append(row)
        # Retrieval is measured from what each archive keeps for good: Strata's
        # compressed volumes (series compressed now, as they would be once stable).
        start = time.perf_counter()
        subprocess.run([STRATA, "compress-pending", "--config", cfg, "--data-dir", "var"], cwd=work / "strata", check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        compress_s = time.perf_counter() - start
        for row in rows:
            files = row["paths"]
            study = tag(files[0], "0020,000d")
            series_uid = tag(files[0], "0020,000e")
            keys = ["-k", "QueryRetrieveLevel=SERIES", "-k", f"StudyInstanceUID={study}", "-k", f"SeriesInstanceUID={series_uid}"]
            for peer, aec in (("strata", "STRATA"), ("orthanc", "ORTHANC")):
                out = work / f"get_{peer}_{row['series']}"
                out.mkdir()
                row[f"get_{peer}"] = timed(["getscu", "-S", "-aec", aec, "-od", str(out), "127.0.0.1", str(ports[peer])] + keys)
                row[f"move_{peer}"] = timed(["movescu", "-S", "-aet", "SINK", "-aec", aec, "-aem", "SINK", "127.0.0.1", str(ports[peer])] + keys)
                start = time.perf_counter()
                for f in files:
                    sop = tag(f, "0008,0018")
                    subprocess.run(["getscu", "-S", "-aec", aec, "-od", str(out), "127.0.0.1", str(ports[peer])] + keys
                                   + ["-k", "QueryRetrieveLevel=IMAGE", "-k", f"SOPInstanceUID={sop}"],
                                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                row[f"image_{peer}"] = time.perf_counter() - start
        print(f"strata compress-pending of all series: {compress_s:.1f} s")
        stored = {
            "storescp": du(work / "storescp"),
            "strata": du(work / "strata/var/blobs") + du(work / "strata/var/spool"),
            "orthanc": du(work / "orthanc/db"),
        }
        print_table(rows, stored)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


def print_table(rows, stored):
    print("| series | files | MB | storescu → storescp s | → Strata s | → Orthanc s | getscu Strata s | getscu Orthanc s | movescu Strata s | movescu Orthanc s | per-image getscu Strata s | per-image getscu Orthanc s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['series']} | {r['files']} | {r['MB']:.1f} | {r['store_storescp']:.2f} | {r['store_strata']:.2f} | {r['store_orthanc']:.2f} | "
              f"{r['get_strata']:.2f} | {r['get_orthanc']:.2f} | {r['move_strata']:.2f} | {r['move_orthanc']:.2f} | "
              f"{r['image_strata']:.2f} | {r['image_orthanc']:.2f} |")
    print()
    print("| stored bytes (all series) | bytes | vs storescp files |")
    print("|---|---|---|")
    base = stored["storescp"]
    for k in ("storescp", "orthanc", "strata"):
        print(f"| {k} | {stored[k]} | {stored[k] / base:.3f} |")


if __name__ == "__main__":
    main()
