"""Test files with an EXIF orientation, shared by the oracle and service tests."""
import struct


def tiff_with_orientation(data, o):
    """A little-endian TIFF's bytes with IFD0 copied to the end of the file
    plus an Orientation entry of value `o` (entries keep their data where it
    was; the header points at the new IFD)."""
    assert data[:4] == b"II*\x00", "expected a little-endian classic TIFF"
    ifd = struct.unpack_from("<I", data, 4)[0]
    n = struct.unpack_from("<H", data, ifd)[0]
    entries = [data[ifd + 2 + 12 * i:ifd + 14 + 12 * i] for i in range(n)]
    next_ifd = data[ifd + 2 + 12 * n:ifd + 6 + 12 * n]
    entries = [e for e in entries if struct.unpack_from("<H", e)[0] != 274]
    entries.append(struct.pack("<HHIHH", 274, 3, 1, o, 0))
    entries.sort(key=lambda e: struct.unpack_from("<H", e)[0])
    out = bytearray(data) + (b"\x00" if len(data) % 2 else b"")
    new_ifd = len(out)
    out += struct.pack("<H", len(entries)) + b"".join(entries) + next_ifd
    struct.pack_into("<I", out, 4, new_ifd)
    return bytes(out)
