#!/usr/bin/python3
"""Writes small hostile image files for the codec tests (run from anywhere;
the files land next to this script). Every file is a few bytes to a few
tens of KiB; each declares something a decoder must refuse quickly."""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(width, height, depth, color, idat, iend=True):
    out = b"\x89PNG\r\n\x1a\n"
    out += png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
    out += png_chunk(b"IDAT", idat)
    if iend:
        out += png_chunk(b"IEND", b"")
    return out


def bomb_idat(width, height):
    """1-bit gray rows of zeros, filter byte 0: ~width*height/8 bytes raw."""
    row = b"\x00" * (1 + (width + 7) // 8)
    c = zlib.compressobj(9)
    parts = [c.compress(row * 1000) for _ in range(height // 1000)]
    parts.append(c.compress(row * (height % 1000)))
    parts.append(c.flush())
    return b"".join(parts)


def bmp(width, height, bpp=24, offset=54, compression=0, extra=b""):
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bpp, compression, 0, 2835, 2835, 0, 0)
    head = b"BM" + struct.pack("<IHHI", 14 + 40 + len(extra), 0, 0, offset)
    return head + info + extra


def gif(width, height, frame_w=None, frame_h=None):
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0)  # 2-colour table
    out += b"\x00\x00\x00\xff\xff\xff"
    fw, fh = frame_w or 1, frame_h or 1
    out += b"\x2c" + struct.pack("<HHHHB", 0, 0, fw, fh, 0)
    out += b"\x02\x02\x44\x01\x00"  # LZW min code 2, one tiny block
    return out + b"\x3b"


def tiff(width, height, strip_offset=8, strip_bytes=1, bps=8, spp=1, rows_per_strip=None):
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, bps), (259, 3, 1, 1),
        (262, 3, 1, 1), (273, 4, 1, strip_offset), (277, 3, 1, spp),
        (278, 4, 1, rows_per_strip if rows_per_strip is not None else height),
        (279, 4, 1, strip_bytes),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<H", value) + b"\x00\x00" if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 16) + b"\x00" * 8 + ifd


def jpeg_sof(width, height):
    """SOI, a quant table, SOF0 declaring width x height, SOS, EOI."""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3)
    sof += b"\x01\x22\x00\x02\x11\x00\x03\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x00\x03\x00" + b"\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + sos + b"\x00" * 8 + b"\xff\xd9"


FILES = {
    # declared dimensions far over the default limits
    "png_huge.png": png(100000, 100000, 8, 2, zlib.compress(b"\x00" * 16)),
    "bmp_huge.bmp": bmp(100000, 100000),
    "pnm_huge.ppm": b"P6 100000 100000 255\n\x00\x00\x00",
    "gif_huge.gif": gif(65535, 65535),
    "tiff_huge.tif": tiff(100000, 100000),
    "jpeg_huge.jpg": jpeg_sof(65500, 65500),
    # within the default caps but a bomb: 20000x20000 zero pixels in ~50 KiB
    "png_bomb.png": png(20000, 20000, 1, 0, bomb_idat(20000, 20000)),
    # malformed headers and data
    "png_bad_crc.png": png(4, 4, 8, 2, zlib.compress(b"\x00" * 52), iend=False)[:-4]
    + b"\xde\xad\xbe\xef" + png_chunk(b"IEND", b""),
    "png_no_iend.png": png(4, 4, 8, 2, zlib.compress(b"\x00" * 52), iend=False),
    "bmp_bad_offset.bmp": bmp(4, 4, offset=0xFFFFFFF0) + b"\x00" * 48,
    "bmp_rle.bmp": bmp(4, 4, bpp=8, compression=1, extra=b"\x00" * 1024) + b"\x00" * 16,
    "bmp_zero_width.bmp": bmp(0, 4) + b"\x00" * 16,
    "bmp_bad_bpp.bmp": bmp(4, 4, bpp=7) + b"\x00" * 64,
    "pnm_maxval_zero.pgm": b"P5 4 4 0\n" + b"\x00" * 16,
    "pnm_short.pgm": b"P5 4 4 255\n" + b"\x00" * 15,
    "pnm_bad_ascii.pgm": b"P2 2 2 255\n1 2 x 4\n",
    "pnm_huge_number.pgm": b"P5 99999999999999999999 4 255\n",
    "gif_frame_outside.gif": gif(4, 4, 60000, 60000),
    "gif_no_trailer.gif": gif(4, 4)[:-1],
    "tiff_bad_strip.tif": tiff(64, 64, strip_offset=0x7FFFFFF0, strip_bytes=4096),
    "tiff_zero_rows_per_strip.tif": tiff(4, 4, rows_per_strip=0, strip_bytes=16) + b"\x00" * 16,
    "tiff_ifd_loop.tif": b"II*\x00\x08\x00\x00\x00" + struct.pack("<H", 0) + struct.pack("<I", 8),
    "jpeg_sof_zero.jpg": jpeg_sof(0, 0),
    "webp_riff_short.webp": b"RIFF" + struct.pack("<I", 1000) + b"WEBPVP8 " + b"\x00" * 20,
    "garbage.bin": bytes((i * 37 + 11) % 256 for i in range(256)),
    "empty.bin": b"",
}


def main():
    for name, data in FILES.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
