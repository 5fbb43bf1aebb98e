/// GPT-2's reversible map between bytes and printable Unicode scalars, in which byte-level BPE
/// vocabularies are written (`Ġ` is the byte 0x20, `Ċ` is 0x0A, …).
///
/// Printable Latin-1 bytes map to themselves; the other 68 bytes (controls, space, 0x7F–0xA0, 0xAD) map
/// in order to U+0100…U+0143.
enum ByteLevel {
    /// The scalar for each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var printable = Array(UInt8(ascii: "!")...UInt8(ascii: "~")) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var scalars = [Unicode.Scalar](repeating: " ", count: 256)
        for b in printable { scalars[Int(b)] = Unicode.Scalar(b) }
        var next: UInt32 = 256
        for b in 0...255 where !printable.contains(UInt8(b)) {
            scalars[b] = Unicode.Scalar(next)!
            next += 1
            printable.append(UInt8(b))
        }
        return scalars
    }()

    /// The byte for each scalar value below 0x144 that the map produces, else nil.
    static let byteForScalar: [UInt8?] = {
        var table = [UInt8?](repeating: nil, count: 0x144)
        for (b, s) in scalarForByte.enumerated() { table[Int(s.value)] = UInt8(b) }
        return table
    }()

    /// The byte a scalar stands for, or nil when it is not one of the map's 256 scalars.
    @inline(__always)
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        scalar.value < 0x144 ? byteForScalar[Int(scalar.value)] : nil
    }

    /// The byte-level spelling of `bytes`.
    static func encode<C: Sequence>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarForByte[Int(b)]) }
        return String(s)
    }

    /// The bytes a byte-level token stands for, or nil when it holds a scalar outside the map.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard let b = byte(for: s) else { return nil }
            out.append(b)
        }
        return out
    }

    /// The bytes a byte-level token (as scalars) stands for, or nil when it holds a scalar outside the map.
    static func decode(scalars: [Unicode.Scalar]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(scalars.count)
        for s in scalars {
            guard let b = byte(for: s) else { return nil }
            out.append(b)
        }
        return out
    }
}
