"""Query/Retrieve SCU on pynetdicom for the integration tests.

Usage:
  qr_scu.py find PORT MODEL KEY=VALUE...        one JSON line per match, then the final status
  qr_scu.py get PORT MODEL STORAGE_CLASSES KEY=VALUE...
  qr_scu.py move PORT MODEL DESTINATION KEY=VALUE...

Any mode takes "--save DIR" at the end: each data set received by a get is
also written to DIR/<SOP Instance UID>.dcm as a Part-10 file, exactly as it
came off the wire, in the transfer syntax of its presentation context.

MODEL is "study" or "patient". For get, STORAGE_CLASSES is a comma-separated
list of SOP Class UIDs the SCU offers to receive (one context each, with the
common transfer syntaxes), or of CLASS@SYNTAX pairs (one context each with
that syntax alone, so the archive must send exactly that syntax); each received data set is reported with the sha256 of
its bytes exactly as they came off the wire. Keys name DICOM keywords;
a key without "=" is a return key.
"""
import hashlib
import json
import os
import sys

from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind as PF,
    PatientRootQueryRetrieveInformationModelGet as PG,
    PatientRootQueryRetrieveInformationModelMove as PM,
    StudyRootQueryRetrieveInformationModelFind as SF,
    StudyRootQueryRetrieveInformationModelGet as SG,
    StudyRootQueryRetrieveInformationModelMove as SM,
)

SYNTAXES = [
    "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5",
]


def identifier(pairs):
    ds = Dataset()
    for pair in pairs:
        key, _, value = pair.partition("=")
        setattr(ds, key, value)
    return ds


def status_of(status):
    return int(status.Status) if status and "Status" in status else None


def emit(**fields):
    print(json.dumps(fields), flush=True)


def take_save_dir():
    if "--save" not in sys.argv:
        return None
    at = sys.argv.index("--save")
    directory = sys.argv[at + 1]
    del sys.argv[at:at + 2]
    return directory


def main():
    save_dir = take_save_dir()
    mode, port, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ae = AE(ae_title="QRSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    if mode == "find":
        cls = SF if model == "study" else PF
        ae.add_requested_context(cls)
        assoc = ae.associate("127.0.0.1", port, ae_title="STRATA")
        for status, ds in assoc.send_c_find(identifier(sys.argv[4:]), cls):
            if status_of(status) == 0xFF00 and ds is not None:
                emit(match={el.keyword: str(el.value) for el in ds if el.keyword})
            else:
                emit(final=status_of(status), comment=str(status.get("ErrorComment", "")))
        assoc.release()
        return
    if mode in ("get", "get-cancel"):
        cls = SG if model == "study" else PG
        storage = [c for c in sys.argv[4].split(",") if c]
        keys = sys.argv[5:]
        ae.add_requested_context(cls)
        roles = []
        seen = set()
        for entry in storage:
            uid, _, ts = entry.partition("@")
            ae.add_requested_context(uid, [ts] if ts else SYNTAXES)
            if uid not in seen:
                seen.add(uid)
                roles.append(build_role(uid, scp_role=True))

        get_context = []

        def on_store(event):
            raw = event.request.DataSet.getvalue()
            uid = str(event.request.AffectedSOPInstanceUID)
            emit(received=uid, sha256=hashlib.sha256(raw).hexdigest(),
                 transfer_syntax=str(event.context.transfer_syntax))
            if save_dir:
                with open(os.path.join(save_dir, uid + ".dcm"), "wb") as f:
                    f.write(event.encoded_dataset())
            if mode == "get-cancel" and get_context:
                event.assoc.send_c_cancel(1, get_context[0])
                get_context.clear()
            return 0x0000

        assoc = ae.associate("127.0.0.1", port, ae_title="STRATA", ext_neg=roles,
                             evt_handlers=[(evt.EVT_C_STORE, on_store)])
        get_context.extend(cx.context_id for cx in assoc.accepted_contexts if cx.abstract_syntax == cls)
        for status, ds in assoc.send_c_get(identifier(keys), cls):
            report(status, ds)
        assoc.release()
        return
    if mode == "move":
        cls = SM if model == "study" else PM
        ae.add_requested_context(cls)
        assoc = ae.associate("127.0.0.1", port, ae_title="STRATA")
        for status, ds in assoc.send_c_move(identifier(sys.argv[5:]), sys.argv[4], cls):
            report(status, ds)
        assoc.release()


def report(status, ds):
    fields = {k: int(status.get(k)) for k in (
        "NumberOfRemainingSuboperations", "NumberOfCompletedSuboperations",
        "NumberOfFailedSuboperations", "NumberOfWarningSuboperations") if k in status}
    code = status_of(status)
    if code in (0xFF00, 0xFF01):
        emit(pending=code, **fields)
    else:
        failed = []
        if ds is not None and "FailedSOPInstanceUIDList" in ds:
            value = ds.FailedSOPInstanceUIDList
            failed = [str(v) for v in (value if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, str) else [value])]
        emit(final=code, failed_uids=failed, comment=str(status.get("ErrorComment", "")), **fields)


if __name__ == "__main__":
    main()
