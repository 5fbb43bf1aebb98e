import Foundation
import Testing
import Tensor
@testable import LanguageModel
@testable import OPT

@Suite struct SafetensorsTests {
    // MARK: Round trips

    /// Deterministic values with varied magnitudes and signs.
    func values(_ n: Int, seed: Int = 1) -> [Float] {
        (0..<n).map { i in Float(sin(Double(i * 7 + seed) * 0.37)) * Float(1 << ((i + seed) % 9)) / 16 }
    }

    @Test func f32RoundTripKeepsValuesShapesAndMetadata() throws {
        let shapes: [[Int]] = [[1], [7], [13, 5], [0, 3], [], [257, 65], [2, 1, 3]]
        var writer = SafetensorsWriter(metadata: ["format": "pt", "note": "ünïcode \"quoted\"\n"])
        var expected: [String: Tensor<Float>] = [:]
        for (k, shape) in shapes.enumerated() {
            let t = try Tensor<Float>(shape: shape, scalars: values(shape.reduce(1, *), seed: k))
            expected["t\(k)"] = t
            try writer.add("t\(k)", t)
        }
        let data = writer.serialized()
        let file = try SafetensorsFile(data: data, source: "roundtrip")
        #expect(file.metadata == writer.metadata)
        #expect(file.tensorNames == expected.keys.sorted())
        for (name, t) in expected {
            let back = try file.tensor(named: name)
            #expect(back.shape == t.shape)
            #expect(back.scalars.map(\.bitPattern) == t.scalars.map(\.bitPattern), "\(name)")
            #expect(try file.info(for: name).dtype == .f32)
        }
        // Header: 8-byte aligned, starts with '{', padded with spaces.
        let n = Int(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect(n % 8 == 0)
        #expect(data[8] == UInt8(ascii: "{"))
        let header = [UInt8](data[8..<(8 + n)])
        let close = header.lastIndex(of: UInt8(ascii: "}"))!
        #expect(header[(close + 1)...].allSatisfy { $0 == 0x20 })
    }

    @Test func writerAcceptsNonContiguousViews() throws {
        let base = try Tensor<Float>(shape: [3, 4], scalars: values(12))
        let t = try base.transposed()
        var writer = SafetensorsWriter()
        try writer.add("t", t)
        let back = try SafetensorsFile(data: writer.serialized()).tensor(named: "t")
        #expect(back.shape == [4, 3])
        #expect(back.scalars == t.scalars)
    }

    @Test func halfAndBFloat16AndDoubleRoundTrips() throws {
        let v = values(65) + [0, -0.0, .infinity, -.infinity, 65504, 70000, 1e-8, 3e-5]
        let t = Tensor<Float>(v)
        let d = Tensor<Double>(v.map { Double($0) / 3 })
        var writer = SafetensorsWriter()
        try writer.add("h", t, as: .f16, allowingOverflow: true)  // 70000 becomes inf
        try writer.add("b", t, as: .bf16, allowingOverflow: true)
        try writer.add("d", d, as: .f64)
        try writer.add("f", d, as: .f32)
        let file = try SafetensorsFile(data: writer.serialized())
        #expect(try file.info(for: "h").dtype == .f16)
        #expect(try file.tensor(named: "h").scalars.map(\.bitPattern)
                == v.map { HalfPrecision.float(fromHalf: HalfPrecision.half(from: $0)).bitPattern })
        #expect(try file.tensor(named: "b").scalars.map(\.bitPattern)
                == v.map { HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16(from: $0)).bitPattern })
        #expect(try file.tensor(named: "d", as: Double.self).scalars == d.scalars)
        #expect(try file.tensor(named: "f").scalars == d.scalars.map { Float($0) })
        // Reading as Double widens exactly.
        #expect(try file.tensor(named: "h", as: Double.self).scalars
                == v.map { Double(HalfPrecision.float(fromHalf: HalfPrecision.half(from: $0))) })
    }

    @Test func writerMatchesTheSafetensorsLibraryByteForByte() throws {
        let url = Fixtures.url("safetensors/mixed.safetensors")
        let original = try Data(contentsOf: url)
        let file = try SafetensorsFile(contentsOf: url)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensorNames == ["a", "b", "c", "d", "e", "s", "x\"\n\u{e9}\u{1}"])
        #expect(try file.tensor(named: "b") == Tensor<Float>(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5]))
        #expect(try file.tensor(named: "c").scalars == [1, 65504, -0.0])
        #expect(try file.tensor(named: "c").scalars[2].sign == .minus)
        #expect(try file.tensor(named: "d").scalars == [1, -3.5])
        #expect(try file.tensor(named: "e").shape == [0, 3])
        #expect(try file.tensor(named: "s").shape == [])
        #expect(try file.tensor(named: "s").item() == 7)
        var writer = SafetensorsWriter(metadata: file.metadata)
        for name in file.tensorNames {
            let info = try file.info(for: name)
            if info.dtype == .f64 {
                try writer.add(name, try file.tensor(named: name, as: Double.self), as: .f64)
            } else {
                try writer.add(name, try file.tensor(named: name), as: info.dtype)
            }
        }
        #expect(writer.serialized() == original)
    }

    @Test func writeToFileMatchesSerialized() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("w.safetensors")
        let tensors = ["b": Tensor<Float>(values(13)), "a": try Tensor<Float>(shape: [2, 2], scalars: [1, 2, 3, 4])]
        try SafetensorsWriter.write(tensors, to: url, as: .f16, metadata: ["format": "pt"])
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        try writer.add("a", tensors["a"]!, as: .f16)
        try writer.add("b", tensors["b"]!, as: .f16)
        #expect(try Data(contentsOf: url) == writer.serialized())
        #expect(try SafetensorsFile(contentsOf: url).tensor(named: "a").scalars == [1, 2, 3, 4])
    }

    @Test func writerRejectsBadInput() throws {
        var writer = SafetensorsWriter()
        try writer.add("a", Tensor<Float>([1]))
        #expect(throws: ModelError.self) { try writer.add("a", Tensor<Float>([2])) }
        #expect(throws: ModelError.self) { try writer.add("__metadata__", Tensor<Float>([2])) }
        #expect(throws: ModelError.self) { try writer.add("i", Tensor<Float>([2]), as: .i32) }
        let error = #expect(throws: ModelError.self) {
            try SafetensorsWriter().write(to: URL(fileURLWithPath: "/nonexistent-dir-\(UUID())/x.safetensors"))
        }
        if case .io(let file, _)? = error { #expect(file.hasSuffix("x.safetensors")) } else { Issue.record("\(String(describing: error))") }
    }

    // MARK: Integer and unsupported dtypes

    @Test func integerDTypesConvert() throws {
        func le<T: FixedWidthInteger>(_ xs: [T]) -> [UInt8] { xs.flatMap { x in withUnsafeBytes(of: x.littleEndian) { Array($0) } } }
        let parts: [(String, String, [UInt8], [Float])] = [
            ("bool", "BOOL", [0, 1, 1], [0, 1, 1]),
            ("u8", "U8", [0, 200, 255], [0, 200, 255]),
            ("i8", "I8", le([Int8(-128), 5, 127]), [-128, 5, 127]),
            ("i16", "I16", le([Int16(-300), 0, 32767]), [-300, 0, 32767]),
            ("u16", "U16", le([UInt16(65535), 1, 2]), [65535, 1, 2]),
            ("i32", "I32", le([Int32(-70000), 3, 9]), [-70000, 3, 9]),
            ("u32", "U32", le([UInt32(4_000_000_000), 0, 1]), [4_000_000_000, 0, 1]),
            ("i64", "I64", le([Int64(-5), 1 << 40, 7]), [-5, Float(1 << 40), 7]),
            ("u64", "U64", le([UInt64(1) << 63, 2, 3]), [Float(UInt64(1) << 63), 2, 3]),
        ]
        var header = "{"
        var data: [UInt8] = []
        for (k, (name, dtype, bytes, _)) in parts.enumerated() {
            if k > 0 { header += "," }
            header += "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[3],\"data_offsets\":[\(data.count),\(data.count + bytes.count)]}"
            data += bytes
        }
        header += "}"
        let file = try SafetensorsFile(data: safetensorsBytes(header, data))
        for (name, _, _, expected) in parts {
            #expect(try file.tensor(named: name).scalars == expected, "\(name)")
        }
        #expect(try file.tensor(named: "i64", as: Double.self).scalars == [-5, Double(1 << 40), 7])
    }

    @Test func eightBitFloatsAreRecognisedButNotConverted() throws {
        let file = try SafetensorsFile(data: safetensorsBytes(
            #"{"q":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#, [0x38, 0x40]), source: "f8")
        #expect(try file.info(for: "q").dtype == .f8e4m3)
        #expect(try file.rawBytes(of: "q") == Data([0x38, 0x40]))
        let error = #expect(throws: ModelError.self) { try file.tensor(named: "q") }
        #expect(error == .unsupportedDType(file: "f8", tensor: "q", dtype: "F8_E4M3"))
        #expect(error?.description.contains("'q'") == true)
        #expect(throws: ModelError.tensorNotFound(file: "f8", tensor: "nope")) { try file.tensor(named: "nope") }
    }

    // MARK: Malformed files

    /// Parses `data` expecting a malformed-file error whose parts match.
    func expectMalformed(_ data: Data, tensor: String? = nil, offset: Int? = nil, _ fragment: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try SafetensorsFile(data: data, source: "bad.safetensors")
            Issue.record("parsed a malformed file", sourceLocation: sourceLocation)
        } catch let ModelError.malformedSafetensors(file, t, o, reason) {
            #expect(file == "bad.safetensors", sourceLocation: sourceLocation)
            #expect(t == tensor, "tensor", sourceLocation: sourceLocation)
            if let offset { #expect(o == offset, "offset", sourceLocation: sourceLocation) }
            #expect(reason.contains(fragment), "\(reason)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    let one = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    @Test func wellFormedBaseline() throws {
        let file = try SafetensorsFile(data: safetensorsBytes(one, f32Bytes([1, 2])))
        #expect(try file.tensor(named: "a").scalars == [1, 2])
        #expect(try file.info(for: "a") == SafetensorsTensorInfo(name: "a", dtype: .f32, shape: [2], dataOffsets: 0..<8))
    }

    @Test func truncatedFiles() {
        expectMalformed(Data(), "0 bytes, too short")
        expectMalformed(Data([1, 0, 0, 0, 0, 0, 0]), "7 bytes, too short")
        // Header cut short: the declared length runs past the end.
        let full = safetensorsBytes(one, f32Bytes([1, 2]))
        expectMalformed(full.prefix(20), offset: 0, "runs past the end of the file")
        // Data cut short: the tensor's offsets run past the data buffer.
        expectMalformed(full.prefix(full.count - 3), tensor: "a", "run past the end of the 5-byte data buffer")
    }

    @Test func headerLengthOutOfRange() {
        expectMalformed(safetensorsBytes(one, f32Bytes([1, 2]), declaredLength: UInt64.max), offset: 0,
                        "exceeds the 100000000-byte limit")
        expectMalformed(safetensorsBytes(one, f32Bytes([1, 2]), declaredLength: 100_000_001), "exceeds")
        expectMalformed(safetensorsBytes(one, f32Bytes([1, 2]), declaredLength: 1_000_000), offset: 0,
                        "runs past the end of the file")
        expectMalformed(safetensorsBytes("", []), offset: 8, "must be a JSON object")
    }

    @Test func invalidJSONHeaders() {
        expectMalformed(safetensorsBytes("[1, 2]"), offset: 8, "must be a JSON object starting with '{'")
        expectMalformed(safetensorsBytes(" {}"), "must be a JSON object starting with '{'")
        expectMalformed(safetensorsBytes("{\"a\": "), offset: 14, "invalid JSON header: unexpected end")
        expectMalformed(safetensorsBytes("{}x"), offset: 10, "unexpected text after the JSON value")
        expectMalformed(safetensorsBytes("{\"a\":1,}"), "invalid JSON header")
        expectMalformed(safetensorsBytes("{\"a\":nul}"), "invalid literal")
        expectMalformed(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{}}"#),
                        "duplicate key 'a'")
        var bad = Array(#"{"\#u{e9}":{}}"#.utf8)
        bad[3] = 0xFF  // invalid UTF-8 inside a key
        expectMalformed(Data(withUnsafeBytes(of: UInt64(bad.count).littleEndian) { Array($0) } + bad), "invalid UTF-8")
        let deep = "{\"__metadata__\":" + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        expectMalformed(safetensorsBytes(deep), "nested deeper")
    }

    @Test func invalidEntries() {
        expectMalformed(safetensorsBytes(#"{"a":5}"#), tensor: "a", "not an object")
        expectMalformed(safetensorsBytes(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, f32Bytes([1])), tensor: "a", "no \"dtype\"")
        expectMalformed(safetensorsBytes(#"{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}"#, f32Bytes([1])),
                        tensor: "a", "unknown or unsupported dtype 'F7'")
        expectMalformed(safetensorsBytes(#"{"a":{"dtype":3,"shape":[1],"data_offsets":[0,4]}}"#, f32Bytes([1])),
                        tensor: "a", "must be a string")
        expectMalformed(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, f32Bytes([1])),
                        tensor: "a", "non-negative integers")
        expectMalformed(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, f32Bytes([1])),
                        tensor: "a", "non-negative integers")
        expectMalformed(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, f32Bytes([1])),
                        tensor: "a", "two non-negative integers")
        expectMalformed(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999]}}"#, f32Bytes([1])),
                        tensor: "a", "two non-negative integers")
        expectMalformed(safetensorsBytes(#"{"__metadata__":{"k":1}}"#), "must be a string")
        expectMalformed(safetensorsBytes(#"{"__metadata__":[]}"#), "must be an object of strings")
    }

    @Test func offsetsAndShapesMustAgree() {
        // Shape needs 12 bytes; the offsets hold 8.
        let header = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        expectMalformed(safetensorsBytes(header, f32Bytes([1, 2])), tensor: "a", offset: 8 + header.utf8.count,
                        "hold 8 bytes but F32 [3] needs 12")
        expectMalformed(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, f32Bytes([1, 2])),
                        tensor: "a", "end before they begin")
        expectMalformed(safetensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, f32Bytes([1, 2])),
                        tensor: "a", "run past the end of the 8-byte data buffer")
        let huge = #"{"a":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#
        expectMalformed(safetensorsBytes(huge, f32Bytes([1, 2])), tensor: "a", "overflows")
    }

    @Test func tensorsMustTileTheBufferExactly() {
        // Overlap: b starts inside a.
        let overlap = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        expectMalformed(safetensorsBytes(overlap, f32Bytes([1, 2, 3])), tensor: "b",
                        offset: 8 + overlap.utf8.count + 4, "overlap tensor 'a'")
        // Two names for the same bytes.
        let alias = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        expectMalformed(safetensorsBytes(alias, f32Bytes([1, 2])), tensor: "b", "overlap tensor 'a'")
        // Gap before b.
        let gap = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        expectMalformed(safetensorsBytes(gap, f32Bytes([1, 2, 3])), tensor: "b", offset: 8 + gap.utf8.count + 4,
                        "bytes [4, 8) of the data buffer before this tensor belong to no tensor")
        // Trailing bytes after the last tensor.
        expectMalformed(safetensorsBytes(one, f32Bytes([1, 2, 3])), offset: 8 + one.utf8.count + 8,
                        "bytes [8, 12) at the end of the data buffer belong to no tensor")
        // Data with no tensors at all.
        expectMalformed(safetensorsBytes("{}", [1, 2]), "bytes [0, 2) at the end")
        // An empty tensor may sit anywhere on a boundary, but not inside another tensor.
        let emptyInside = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#
        expectMalformed(safetensorsBytes(emptyInside, f32Bytes([1, 2])), tensor: "z", "overlap tensor 'a'")
    }

    @Test func emptyTensorsAndEmptyFilesAreValid() throws {
        let empty = try SafetensorsFile(data: safetensorsBytes("{}"))
        #expect(empty.tensorNames.isEmpty)
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F16","shape":[3,0],"data_offsets":[8,8]}}"#
        let file = try SafetensorsFile(data: safetensorsBytes(header + "   ", f32Bytes([1, 2])))
        #expect(try file.tensor(named: "z").shape == [3, 0])
        #expect(try file.tensor(named: "a").scalars == [1, 2])
    }

    @Test func dataSlicesWithNonZeroStartIndexAreRead() throws {
        let bytes = Data([9, 9, 9]) + safetensorsBytes(one, f32Bytes([5, 6]))
        let slice = bytes[3...]
        #expect(slice.startIndex == 3)
        let file = try SafetensorsFile(data: slice)
        #expect(try file.tensor(named: "a").scalars == [5, 6])
        #expect(try file.rawBytes(of: "a") == Data(f32Bytes([5, 6])))
    }

    @Test func missingFilesAndDirectoriesAreNamed() {
        let missing = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString).safetensors")
        #expect(throws: ModelError.io(file: missing.path, reason: "no such file")) { try SafetensorsFile(contentsOf: missing) }
        let dir = Fixtures.url("tokenizer")
        #expect(throws: ModelError.io(file: dir.path, reason: "is a directory, not a file")) { try SafetensorsFile(contentsOf: dir) }
    }

    @Test func errorDescriptionsNameFileTensorAndOffset() {
        let e = ModelError.malformedSafetensors(file: "m.safetensors", tensor: "w", offset: 120, reason: "bad")
        #expect(e.description == "m.safetensors: malformed safetensors file: tensor 'w': bad (at byte 120 of the file)")
    }
}

@Suite struct SafetensorsFuzzTests {
    /// Random corruptions of a valid file parse or throw ``ModelError``; whatever parses reads back whole.
    @Test func corruptedFilesNeverCrash() throws {
        let original = [UInt8](try Data(contentsOf: Fixtures.url("safetensors/mixed.safetensors")))
        let headerEnd = 8 + Int(original.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var rng = TensorRNG(seed: 5)
        var parsed = 0, rejected = 0
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0...(rng.next() % 3) {
                switch rng.next() % 5 {
                case 0:
                    let end = min(headerEnd, bytes.count)
                    if end > 8 { bytes[8 + Int(rng.next() % UInt64(end - 8))] = UInt8(truncatingIfNeeded: rng.next()) }
                case 1: bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
                case 2:
                    guard bytes.count >= 8 else { break }
                    let length = rng.next() % UInt64(bytes.count + 16)
                    withUnsafeBytes(of: length.littleEndian) { for k in 0..<8 { bytes[k] = $0[k] } }
                case 3:
                    // A digit in the header changed: offsets and shapes go wrong in valid JSON.
                    let digits = (8..<max(8, min(headerEnd, bytes.count))).filter { (0x30...0x39).contains(bytes[$0]) }
                    if let k = digits.randomElement(using: &rng) { bytes[k] = 0x30 + UInt8(rng.next() % 10) }
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(bytes.count + 1)))
                }
            }
            do {
                let file = try SafetensorsFile(data: Data(bytes), source: "fuzz")
                for name in file.tensorNames where try file.info(for: name).dtype.isConvertible {
                    let t = try file.tensor(named: name)
                    #expect(t.count == (try file.info(for: name)).count)
                }
                parsed += 1
            } catch let error as ModelError {
                guard case .malformedSafetensors(let f, _, _, _) = error else { Issue.record("\(error)"); continue }
                #expect(f == "fuzz")
                rejected += 1
            }
        }
        #expect(rejected > 1000 && parsed > 10)
    }
}
