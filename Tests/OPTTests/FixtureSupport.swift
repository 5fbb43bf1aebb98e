import Foundation
import Testing
@testable import LanguageModel
@testable import OPT

/// The committed fixtures (Tests/OPTTests/Fixtures, written by Scripts/make_fixtures.py).
enum Fixtures {
    static let root: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    /// A parsed JSON fixture.
    static func json(_ path: String) throws -> JSONValue {
        try JSONParser.parse([UInt8](try Data(contentsOf: url(path))))
    }
}

/// A fresh temporary directory, removed by the caller with `FileManager.default.removeItem`.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("opt-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Safetensors bytes from a header text and a data buffer; `declaredLength` overrides the header length.
func safetensorsBytes(_ header: String, _ data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    let h = Array(header.utf8)
    var out = withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { Array($0) }
    out += h
    out += data
    return Data(out)
}

/// Little-endian bytes of Float32 values.
func f32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

extension JSONValue {
    /// The value as a Double (numbers only).
    var doubleValue: Double? {
        if case let .number(text) = self { return Double(text) }
        return nil
    }

    /// An array of integers.
    var intArray: [Int]? { arrayValue?.compactMap(\.intValue) }
}
