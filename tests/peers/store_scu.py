"""C-STORE SCU on pynetdicom for the integration tests.

Usage: store_scu.py PORT CALLING_AE FILE...

Sends every file on one association (contexts for each file's SOP Class
and transfer syntax) and prints one JSON line per file: its path, SOP
Instance UID, the status returned, and the sha256 of the data set bytes
exactly as they went on the wire, so the test can compare them with what
the archive stored.
"""
import hashlib
import json
import sys

import pynetdicom.association as association
from pydicom import dcmread
from pynetdicom import AE

sent = []
_encode = association.encode


def capturing_encode(*args, **kwargs):
    data = _encode(*args, **kwargs)
    sent.append(data)
    return data


association.encode = capturing_encode


def main():
    port, calling, files = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    datasets = [dcmread(f) for f in files]
    ae = AE(ae_title=calling)
    # Every C-STORE is answered only after fsync and the index commit: on a
    # loaded machine that can take longer than pynetdicom's 30 s default.
    ae.acse_timeout = 60
    ae.dimse_timeout = ae.network_timeout = 300
    for context in sorted({(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID) for ds in datasets}):
        ae.add_requested_context(*context)
    assoc = ae.associate("127.0.0.1", port, ae_title="STRATA", max_pdu=16384)
    if not assoc.is_established:
        print(json.dumps({"error": "association rejected"}))
        sys.exit(1)
    for path, ds in zip(files, datasets):
        if not assoc.is_established:
            print(json.dumps({"error": f"association ended before {path}"}))
            sys.exit(1)
        sent.clear()
        status = assoc.send_c_store(ds)
        data = sent[-1] if sent else b""
        print(json.dumps({
            "path": path,
            "sop_instance_uid": str(ds.SOPInstanceUID),
            "status": int(status.Status) if "Status" in status else None,
            "comment": str(status.get("ErrorComment", "")),
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }), flush=True)
    assoc.release()


if __name__ == "__main__":
    main()
