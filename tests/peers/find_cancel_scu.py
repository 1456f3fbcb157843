"""C-FIND SCU that sends a C-CANCEL after the first pending response, written
on a bare socket so that the moment is deterministic (for the integration
tests).

Usage: find_cancel_scu.py PORT STUDY_UID SERIES_UID EXTRA_KEYS

Asks at IMAGE level for the instances of one series, with EXTRA_KEYS
zero-length private return keys that the archive echoes back, so that each
pending response is large. The receive buffer is set small before
connecting, and PDUs are read one at a time, exactly: when the C-CANCEL
leaves, the archive cannot have sent more than the first response plus what
its own send buffer and this small receive buffer hold. Prints one JSON line:
the number of pending responses, the final status and the size of one
identifier.

pynetdicom is not used here: its reader thread drains the socket as fast as
it can, which leaves the moment of the C-CANCEL to the scheduler.
"""
import json
import socket
import struct
import sys

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLEMENTATION_CLASS = "1.2.826.0.1.3680043.10.1459.99"
MAX_PDU = 16384
PENDING, CANCEL = 0xFF00, 0xFE00


def uid_bytes(uid):
    raw = uid.encode()
    return raw + b"\0" if len(raw) % 2 else raw


def item(kind, body):
    return struct.pack(">BBH", kind, 0, len(body)) + body


def pdu(kind, body):
    return struct.pack(">BBI", kind, 0, len(body)) + body


def associate_rq():
    # Upper layer items carry UIDs unpadded (PS3.8 9.3.2).
    context = item(0x20, bytes([1, 0, 0, 0]) + item(0x30, STUDY_ROOT_FIND.encode())
                   + item(0x40, IMPLICIT_LE.encode()))
    user = item(0x50, item(0x51, struct.pack(">I", MAX_PDU))
                + item(0x52, IMPLEMENTATION_CLASS.encode()))
    fixed = (struct.pack(">HH", 1, 0) + b"STRATA".ljust(16) + b"CANCELSCU".ljust(16)
             + bytes(32))
    return pdu(0x01, fixed + item(0x10, APPLICATION_CONTEXT.encode()) + context + user)


def element(group, elem, value):
    if len(value) % 2:
        value += b"\0" if isinstance(value, bytes) else b" "
    return struct.pack("<HHI", group, elem, len(value)) + value


def command(elements):
    body = b"".join(elements)
    return element(0x0000, 0x0000, struct.pack("<I", len(body))) + body


def find_rq():
    return command([
        element(0x0000, 0x0002, uid_bytes(STUDY_ROOT_FIND)),
        element(0x0000, 0x0100, struct.pack("<H", 0x0020)),
        element(0x0000, 0x0110, struct.pack("<H", 1)),
        element(0x0000, 0x0700, struct.pack("<H", 0)),
        element(0x0000, 0x0800, struct.pack("<H", 0x0000)),
    ])


def cancel_rq():
    return command([
        element(0x0000, 0x0100, struct.pack("<H", 0x0FFF)),
        element(0x0000, 0x0120, struct.pack("<H", 1)),
        element(0x0000, 0x0800, struct.pack("<H", 0x0101)),
    ])


def identifier(study, series, extra):
    elements = [
        element(0x0008, 0x0018, b""),
        element(0x0008, 0x0052, b"IMAGE "),
    ]
    # Zero-length private return keys, 256 per odd group from (0009,1000).
    for n in range(extra):
        elements.append(element(0x0009 + 2 * (n // 256), 0x1000 + n % 256, b""))
    elements.append(element(0x0020, 0x000D, uid_bytes(study)))
    elements.append(element(0x0020, 0x000E, uid_bytes(series)))
    return b"".join(sorted(elements, key=lambda e: struct.unpack("<HH", e[:4])))


def pdata(is_command, data, last=True):
    header = 0x01 if is_command else 0x00
    header |= 0x02 if last else 0x00
    return pdu(0x04, struct.pack(">IBB", len(data) + 2, 1, header) + data)


def send_data_set(sock, data):
    chunk = 60000
    for start in range(0, len(data), chunk):
        piece = data[start:start + chunk]
        sock.sendall(pdata(False, piece, start + chunk >= len(data)))


def recv_exact(sock, n):
    out = bytearray()
    while len(out) < n:
        got = sock.recv(n - len(out))
        if not got:
            raise SystemExit("connection closed by the archive")
        out += got
    return bytes(out)


def read_pdu(sock):
    kind, _, length = struct.unpack(">BBI", recv_exact(sock, 6))
    return kind, recv_exact(sock, length)


def pdvs(body):
    at = 0
    while at < len(body):
        (length,) = struct.unpack(">I", body[at:at + 4])
        header = body[at + 5]
        yield bool(header & 0x01), bool(header & 0x02), body[at + 6:at + 4 + length]
        at += 4 + length


def read_command(data):
    fields, at = {}, 0
    while at < len(data):
        group, elem, length = struct.unpack("<HHI", data[at:at + 8])
        value = data[at + 8:at + 8 + length]
        if group == 0 and elem in (0x0100, 0x0800, 0x0900):
            fields[elem] = struct.unpack("<H", value)[0]
        at += 8 + length
    return fields


def messages(sock):
    """Yields (status, identifier size) per response, reading PDU by PDU."""
    command_bytes, data_size, status = b"", 0, None
    while True:
        kind, body = read_pdu(sock)
        if kind != 0x04:
            raise SystemExit(f"unexpected PDU type {kind:#04x}")
        for is_command, last, data in pdvs(body):
            if is_command:
                command_bytes += data
                if last:
                    fields = read_command(command_bytes)
                    command_bytes, status = b"", fields[0x0900]
                    if fields[0x0800] == 0x0101:
                        yield status, 0
            else:
                data_size += len(data)
                if last:
                    yield status, data_size
                    data_size = 0


def main():
    port, study, series, extra = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(60)
    sock.connect(("127.0.0.1", port))
    sock.sendall(associate_rq())
    kind, body = read_pdu(sock)
    if kind != 0x02:
        raise SystemExit(f"association not accepted (PDU type {kind:#04x}: {body.hex()})")
    sock.sendall(pdata(True, find_rq()))
    send_data_set(sock, identifier(study, series, extra))
    pending, size, final = 0, 0, None
    for status, identifier_size in messages(sock):
        if status != PENDING:
            final = status
            break
        pending += 1
        if pending == 1:
            size = identifier_size
            sock.sendall(pdata(True, cancel_rq()))
    sock.sendall(pdu(0x05, bytes(4)))
    kind, _ = read_pdu(sock)
    print(json.dumps({"pending": pending, "final": final, "identifier_bytes": size,
                      "released": kind == 0x06}), flush=True)


if __name__ == "__main__":
    main()
