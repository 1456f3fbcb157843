"""Storage SCP on pynetdicom for the integration tests (a C-MOVE destination).

Usage: store_scp.py PORT AE_TITLE [--stall-after N] [--native-only]

Prints "listening" when ready, then one JSON line per received instance with
the sha256 of its data set bytes exactly as they came off the wire. With
--stall-after N it stops answering after N instances (to test timeouts).
With --native-only it accepts only Explicit and Implicit VR Little Endian,
and each line also carries the sha256 of the Pixel Data value and the
Photometric Interpretation.
"""
import hashlib
import json
import sys
import time

from pynetdicom import AE, AllStoragePresentationContexts, evt, ALL_TRANSFER_SYNTAXES

NATIVE = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]

received = 0


def main():
    port, title = int(sys.argv[1]), sys.argv[2]
    options = sys.argv[3:]
    stall = int(options[options.index("--stall-after") + 1]) if "--stall-after" in options else None
    native_only = "--native-only" in options

    def on_store(event):
        global received
        received += 1
        if stall is not None and received > stall:
            time.sleep(3600)
        raw = event.request.DataSet.getvalue()
        line = {"received": str(event.request.AffectedSOPInstanceUID),
                "sha256": hashlib.sha256(raw).hexdigest(),
                "originator": str(event.request.MoveOriginatorApplicationEntityTitle or ""),
                "transfer_syntax": str(event.context.transfer_syntax)}
        if native_only:
            ds = event.dataset
            line["pixel_sha256"] = hashlib.sha256(ds.PixelData).hexdigest()
            line["photometric"] = str(ds.PhotometricInterpretation)
        print(json.dumps(line), flush=True)
        return 0x0000

    ae = AE(ae_title=title)
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, NATIVE if native_only else ALL_TRANSFER_SYNTAXES)
    print("listening", flush=True)
    ae.start_server(("127.0.0.1", port), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store)])


if __name__ == "__main__":
    main()
