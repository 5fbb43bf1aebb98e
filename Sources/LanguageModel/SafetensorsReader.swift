import Foundation
import Tensor

/// A parsed and fully validated safetensors file whose tensors are converted on demand.
///
/// Opening a file memory-maps it and checks the whole header before anything else happens: the 8-byte
/// header length against the file size (and a 100 MB cap, as the reference implementation), the JSON
/// (strict: no duplicate keys, valid UTF-8), every tensor's dtype, shape and `data_offsets`, and that the
/// tensors tile the data buffer exactly — no byte out of range, no overlap, no hole (the format requires
/// the buffer to be entirely indexed). A malformed file is an ``ModelError`` naming the file, the tensor and
/// the byte offset; nothing is ever read out of bounds.
///
/// ``tensor(named:)`` converts one tensor (F32, F16, BF16, F64 or an integer type) to a `Tensor<Float>`,
/// so loading a checkpoint holds the mapped file plus the converted tensors, never a second copy of the
/// raw bytes.
public struct SafetensorsFile: Sendable {
    /// The largest header accepted, as in the safetensors library (100 MB).
    public static let maxHeaderLength = 100_000_000

    /// The file's path, or the label given for in-memory bytes; used in every error message.
    public let source: String
    /// The header's `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Every tensor's dtype, shape and byte range, by name.
    public let tensorInfos: [String: SafetensorsTensorInfo]
    /// The file's bytes (memory-mapped when read from a file).
    let bytes: Data
    /// Where the data buffer starts in `bytes`: 8 + header length.
    let dataStart: Int

    /// Opens and validates the safetensors file at `url` (memory-mapped).
    public init(contentsOf url: URL) throws {
        let path = url.path
        self = try SafetensorsFile(data: try readFile(url), source: path)
    }

    /// Parses and validates safetensors bytes; `source` names them in error messages.
    public init(data: Data, source: String = "<memory>") throws {
        let parsed = try data.withUnsafeBytes { raw in try SafetensorsFile.parseHeader(raw, source: source) }
        self.source = source
        self.bytes = data
        self.dataStart = parsed.dataStart
        self.metadata = parsed.metadata
        self.tensorInfos = parsed.infos
    }

    /// The tensor names in byte order.
    public var tensorNames: [String] { tensorInfos.keys.sorted(by: utf8Less) }

    /// The dtype, shape and byte range of tensor `name`.
    public func info(for name: String) throws -> SafetensorsTensorInfo {
        guard let info = tensorInfos[name] else { throw ModelError.tensorNotFound(file: source, tensor: name) }
        return info
    }

    /// Tensor `name` converted to `Float`.
    public func tensor(named name: String) throws -> Tensor<Float> {
        try tensor(named: name, as: Float.self)
    }

    /// Tensor `name` converted to `S` (F16 and BF16 widen exactly; integers convert to the nearest value).
    public func tensor<S: TensorScalar>(named name: String, as type: S.Type) throws -> Tensor<S> {
        let info = try info(for: name)
        guard info.dtype.isConvertible else {
            throw ModelError.unsupportedDType(file: source, tensor: name, dtype: info.dtype.rawValue)
        }
        var out = try Tensor<S>(shape: info.shape, repeating: 0)
        let count = info.count
        let start = dataStart + info.dataOffsets.lowerBound
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { dst in
                guard count > 0, let base = raw.baseAddress, let d = dst.baseAddress else { return }
                convertElements(from: base + start, dtype: info.dtype, into: d, count: count)
            }
        }
        return out
    }

    /// Every tensor converted to `Float`, by name.
    public func tensors() throws -> [String: Tensor<Float>] {
        var out: [String: Tensor<Float>] = [:]
        for name in tensorInfos.keys { out[name] = try tensor(named: name) }
        return out
    }

    /// The raw bytes of tensor `name` (little-endian elements of its dtype).
    public func rawBytes(of name: String) throws -> Data {
        let info = try info(for: name)
        let start = bytes.startIndex + dataStart
        return bytes.subdata(in: (start + info.dataOffsets.lowerBound)..<(start + info.dataOffsets.upperBound))
    }
}

// MARK: - Header validation

extension SafetensorsFile {
    struct ParsedHeader {
        var dataStart: Int
        var metadata: [String: String]
        var infos: [String: SafetensorsTensorInfo]
    }

    static func parseHeader(_ raw: UnsafeRawBufferPointer, source: String) throws -> ParsedHeader {
        func fail(_ reason: String, tensor: String? = nil, offset: Int? = nil) -> ModelError {
            .malformedSafetensors(file: source, tensor: tensor, offset: offset, reason: reason)
        }
        let fileSize = raw.count
        guard fileSize >= 8 else {
            throw fail("the file is \(fileSize) bytes, too short for the 8-byte header length")
        }
        let declared = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard declared <= UInt64(maxHeaderLength) else {
            throw fail("header length \(declared) exceeds the \(maxHeaderLength)-byte limit", offset: 0)
        }
        let headerLength = Int(declared)
        guard headerLength <= fileSize - 8 else {
            throw fail("header length \(headerLength) runs past the end of the file (\(fileSize) bytes)", offset: 0)
        }
        guard headerLength >= 2, raw[8] == UInt8(ascii: "{") else {
            throw fail("the header must be a JSON object starting with '{'", offset: 8)
        }
        let header: JSONValue
        do {
            header = try JSONParser.parse(UnsafeRawBufferPointer(rebasing: raw[8..<(8 + headerLength)]))
        } catch let e as JSONParseError {
            throw fail("invalid JSON header: \(e.reason)", offset: 8 + e.offset)
        }
        guard let members = header.objectValue else { throw fail("the header is not a JSON object", offset: 8) }

        let dataStart = 8 + headerLength
        let dataSize = fileSize - dataStart
        var metadata: [String: String] = [:]
        var infos: [String: SafetensorsTensorInfo] = [:]
        for (name, value) in members {
            if name == "__metadata__" {
                guard let entries = value.objectValue else {
                    throw fail("__metadata__ must be an object of strings, not \(value.kind)")
                }
                for (key, v) in entries {
                    guard let s = v.stringValue else {
                        throw fail("__metadata__ value for \(quoted(key)) must be a string, not \(v.kind)")
                    }
                    metadata[key] = s
                }
                continue
            }
            infos[name] = try parseTensorInfo(name: name, value: value, dataStart: dataStart, dataSize: dataSize,
                                              fail: fail)
        }
        try checkTiling(infos, dataStart: dataStart, dataSize: dataSize, fail: fail)
        return ParsedHeader(dataStart: dataStart, metadata: metadata, infos: infos)
    }

    static func parseTensorInfo(name: String, value: JSONValue, dataStart: Int, dataSize: Int,
                                fail: (String, String?, Int?) -> ModelError) throws -> SafetensorsTensorInfo {
        guard value.objectValue != nil else { throw fail("the entry is \(value.kind), not an object", name, nil) }
        guard let dtypeValue = value["dtype"] else { throw fail("no \"dtype\"", name, nil) }
        guard let dtypeName = dtypeValue.stringValue else {
            throw fail("\"dtype\" must be a string, not \(dtypeValue.kind)", name, nil)
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw fail("unknown or unsupported dtype \(quoted(dtypeName))", name, nil)
        }
        guard let shapeValue = value["shape"], let dims = shapeValue.arrayValue else {
            throw fail("\"shape\" must be an array of non-negative integers", name, nil)
        }
        var shape: [Int] = []
        for d in dims {
            guard let n = d.intValue, n >= 0 else {
                throw fail("\"shape\" must be an array of non-negative integers", name, nil)
            }
            shape.append(n)
        }
        guard let offsetsValue = value["data_offsets"], let offsets = offsetsValue.arrayValue, offsets.count == 2,
              let begin = offsets[0].intValue, let end = offsets[1].intValue, begin >= 0, end >= 0 else {
            throw fail("\"data_offsets\" must be two non-negative integers [begin, end]", name, nil)
        }
        guard begin <= end else {
            throw fail("data_offsets [\(begin), \(end)] end before they begin", name, nil)
        }
        guard end <= dataSize else {
            throw fail("data_offsets [\(begin), \(end)] run past the end of the \(dataSize)-byte data buffer",
                       name, dataStart + min(begin, dataSize))
        }
        var byteCount = dtype.byteSize
        for d in shape {
            let (p, overflow) = byteCount.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("shape \(formatShape(shape)) overflows the byte count", name, nil) }
            byteCount = p
        }
        guard byteCount == end - begin else {
            throw fail("data_offsets [\(begin), \(end)] hold \(end - begin) bytes but \(dtype.rawValue) "
                       + "\(formatShape(shape)) needs \(byteCount)", name, dataStart + begin)
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// Checks that the tensors cover the data buffer exactly once: sorted by offset, each begins where the
    /// previous ends, and the last ends at the end of the file.
    static func checkTiling(_ infos: [String: SafetensorsTensorInfo], dataStart: Int, dataSize: Int,
                            fail: (String, String?, Int?) -> ModelError) throws {
        let sorted = infos.values.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound)
                || ($0.dataOffsets == $1.dataOffsets && utf8Less($0.name, $1.name))
        }
        var position = 0
        var previous: SafetensorsTensorInfo?
        for info in sorted {
            let r = info.dataOffsets
            if r.lowerBound < position, let p = previous {
                throw fail("data_offsets [\(r.lowerBound), \(r.upperBound)] overlap tensor \(quoted(p.name)) at "
                           + "[\(p.dataOffsets.lowerBound), \(p.dataOffsets.upperBound)]",
                           info.name, dataStart + r.lowerBound)
            }
            if r.lowerBound > position {
                throw fail("bytes [\(position), \(r.lowerBound)) of the data buffer before this tensor belong to "
                           + "no tensor (the buffer must be entirely indexed)", info.name, dataStart + position)
            }
            position = r.upperBound
            previous = info
        }
        if position != dataSize {
            throw fail("bytes [\(position), \(dataSize)) at the end of the data buffer belong to no tensor "
                       + "(the buffer must be entirely indexed)", nil, dataStart + position)
        }
    }
}

/// Reads a whole file, memory-mapped where the platform allows, with errors that name the file.
func readFile(_ url: URL) throws -> Data {
    let path = url.path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw ModelError.io(file: path, reason: "no such file")
    }
    guard !isDirectory.boolValue else { throw ModelError.io(file: path, reason: "is a directory, not a file") }
    do {
        return try Data(contentsOf: url, options: [.alwaysMapped])
    } catch {
        throw ModelError.io(file: path, reason: "cannot be read: \(error.localizedDescription)")
    }
}
