import Foundation
import Tensor

/// Builds a safetensors file byte-for-byte as the safetensors library does: a compact JSON header with
/// `__metadata__` first (keys sorted), tensors ordered by dtype (F64, F32, BF16, F16) then by name, the
/// header padded with spaces to a multiple of 8 bytes, then the little-endian data.
///
/// ```swift
/// var writer = SafetensorsWriter(metadata: ["format": "pt"])
/// try writer.add("weight", w)                 // F32
/// try writer.add("embed", e, as: .f16)        // rounded to nearest, ties to even
/// try writer.write(to: url)
/// ```
public struct SafetensorsWriter: Sendable {
    enum Payload: Sendable {
        case float(Tensor<Float>)
        case double(Tensor<Double>)
    }

    struct Entry: Sendable {
        var name: String
        var dtype: SafetensorsDType
        var shape: [Int]
        var payload: Payload
        var byteCount: Int { shape.reduce(1, *) * dtype.byteSize }
    }

    /// The `__metadata__` map written into the header (omitted when empty).
    public var metadata: [String: String]
    var entries: [Entry] = []
    var names: Set<String> = []

    /// An empty writer.
    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds tensor `name`, stored as `dtype` (F64, F32, BF16 or F16). Tensors are held by value
    /// (copy-on-write, so no copy is made) and encoded when the file is written.
    ///
    /// Narrowing rounds to nearest; a finite value too large for the narrow type (|x| ≥ 65520 for F16)
    /// would silently become infinity, so it is refused with the tensor's name and the element's index
    /// unless `allowingOverflow` is true (then it is stored as ±infinity, as PyTorch's `.half()` does).
    public mutating func add<S: TensorScalar>(_ name: String, _ tensor: Tensor<S>,
                                              as dtype: SafetensorsDType = .f32, allowingOverflow: Bool = false) throws {
        let op = "SafetensorsWriter.add"
        guard SafetensorsDType.writable.contains(dtype) else {
            throw ModelError.invalidArgument(op: op, reason: "cannot write dtype \(dtype.rawValue) (writable: "
                                           + SafetensorsDType.writable.map(\.rawValue).joined(separator: ", ") + ")")
        }
        guard name != "__metadata__" else {
            throw ModelError.invalidArgument(op: op, reason: "the name __metadata__ is reserved")
        }
        if !allowingOverflow, dtype == .f16 || dtype == .bf16, let (index, value) = firstNarrowingOverflow(tensor, dtype) {
            throw ModelError.invalidArgument(op: op, reason: "tensor \(quoted(name)) holds \(value) at \(formatShape(index)), "
                                           + "beyond the largest finite \(dtype.rawValue) value (\(dtype == .f16 ? "65504" : "3.3895e38")); "
                                           + "it would be stored as infinity (store it as F32)")
        }
        guard names.insert(name).inserted else {
            throw ModelError.invalidArgument(op: op, reason: "a tensor named \(quoted(name)) was already added")
        }
        let payload: Payload
        if let t = tensor as? Tensor<Float> {
            payload = .float(t)
        } else if let t = tensor as? Tensor<Double> {
            payload = .double(t)
        } else {
            payload = .double(tensor.converted(to: Double.self))
        }
        entries.append(Entry(name: name, dtype: dtype, shape: tensor.shape, payload: payload))
    }

    /// The first finite element of `tensor` that `dtype` (F16 or BF16) would round to infinity, with its
    /// index, or nil. (NaN and infinities are stored as such: they are not an overflow.)
    func firstNarrowingOverflow<S: TensorScalar>(_ tensor: Tensor<S>, _ dtype: SafetensorsDType) -> ([Int], Float)? {
        let c = tensor.contiguous()
        let flat: (Int, Float)? = c.withUnsafeBufferPointer { buf in
            for (i, x) in buf.enumerated() {
                let f = Float(x)  // a Double beyond Float's range is itself an overflow
                guard f.isFinite || Double(x).isFinite else { continue }
                let stored = dtype == .f16 ? HalfPrecision.float(fromHalf: HalfPrecision.half(from: f))
                                           : HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16(from: f))
                if stored.isInfinite { return (i, f) }
            }
            return nil
        }
        guard let (i, value) = flat else { return nil }
        var index = [Int](repeating: 0, count: c.shape.count), rest = i
        for axis in stride(from: c.shape.count - 1, through: 0, by: -1) where c.shape[axis] > 0 {
            index[axis] = rest % c.shape[axis]
            rest /= c.shape[axis]
        }
        return (index, value)
    }

    /// The tensors in file order.
    var orderedEntries: [Entry] {
        entries.sorted { a, b in
            a.dtype.writeOrder != b.dtype.writeOrder ? a.dtype.writeOrder < b.dtype.writeOrder : utf8Less(a.name, b.name)
        }
    }

    /// The 8-byte length and the padded JSON header for `ordered`.
    func headerBytes(_ ordered: [Entry]) -> [UInt8] {
        var json: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        func separator() {
            if !first { json.append(UInt8(ascii: ",")) }
            first = false
        }
        if !metadata.isEmpty {
            separator()
            appendJSONString("__metadata__", to: &json)
            json += Array(":{".utf8)
            for (k, key) in metadata.keys.sorted(by: utf8Less).enumerated() {
                if k > 0 { json.append(UInt8(ascii: ",")) }
                appendJSONString(key, to: &json)
                json.append(UInt8(ascii: ":"))
                appendJSONString(metadata[key]!, to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for e in ordered {
            separator()
            appendJSONString(e.name, to: &json)
            let shape = e.shape.map(String.init).joined(separator: ",")
            let end = offset + e.byteCount
            json += Array(":{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}".utf8)
            offset = end
        }
        json.append(UInt8(ascii: "}"))
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        out += json
        return out
    }

    /// Calls `body` with each tensor's encoded bytes, in file order.
    func forEachEncoded(_ ordered: [Entry], _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        for e in ordered {
            var buffer = [UInt8](repeating: 0, count: e.byteCount)
            buffer.withUnsafeMutableBytes { dst in
                guard let d = dst.baseAddress else { return }
                switch e.payload {
                case .float(let t):
                    t.withUnsafeBufferPointer { src in
                        encodeElements(from: src.baseAddress!, count: src.count, as: e.dtype, into: d)
                    }
                case .double(let t):
                    t.withUnsafeBufferPointer { src in
                        encodeElements(from: src.baseAddress!, count: src.count, as: e.dtype, into: d)
                    }
                }
            }
            try buffer.withUnsafeBytes { try body($0) }
        }
    }

    /// The complete file.
    public func serialized() -> Data {
        let ordered = orderedEntries
        var data = Data(headerBytes(ordered))
        forEachEncoded(ordered) { data.append(contentsOf: $0) }
        return data
    }

    /// Writes the file to `url`, one tensor at a time, atomically: the bytes go to a temporary file in
    /// the same directory that is renamed over `url` once complete, so a failure or a kill mid-write
    /// leaves any existing file intact.
    public func write(to url: URL) throws {
        let ordered = orderedEntries
        try writeAtomically(to: url) { handle in
            try handle.write(contentsOf: headerBytes(ordered))
            try forEachEncoded(ordered) { try handle.write(contentsOf: $0) }
        }
    }
}

extension SafetensorsWriter {
    /// Writes `tensors` to a safetensors file at `url`, all stored as `dtype`.
    public static func write(_ tensors: [String: Tensor<Float>], to url: URL, as dtype: SafetensorsDType = .f32,
                             metadata: [String: String] = [:]) throws {
        var writer = SafetensorsWriter(metadata: metadata)
        for (name, t) in tensors { try writer.add(name, t, as: dtype) }
        try writer.write(to: url)
    }
}
