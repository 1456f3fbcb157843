"""Storage SCP on pynetdicom for the integration tests (a C-MOVE destination).

Usage: store_scp.py PORT AE_TITLE [--stall-after N]

Prints "listening" when ready, then one JSON line per received instance with
the sha256 of its data set bytes exactly as they came off the wire. With
--stall-after N it stops answering after N instances (to test timeouts).
"""
import hashlib
import json
import sys
import time

from pynetdicom import AE, AllStoragePresentationContexts, evt, ALL_TRANSFER_SYNTAXES

received = 0


def main():
    port, title = int(sys.argv[1]), sys.argv[2]
    stall = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--stall-after" else None

    def on_store(event):
        global received
        received += 1
        if stall is not None and received > stall:
            time.sleep(3600)
        raw = event.request.DataSet.getvalue()
        print(json.dumps({"received": str(event.request.AffectedSOPInstanceUID),
                          "sha256": hashlib.sha256(raw).hexdigest(),
                          "originator": str(event.request.MoveOriginatorApplicationEntityTitle or ""),
                          "transfer_syntax": str(event.context.transfer_syntax)}),
              flush=True)
        return 0x0000

    ae = AE(ae_title=title)
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    print("listening", flush=True)
    ae.start_server(("127.0.0.1", port), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store)])


if __name__ == "__main__":
    main()
