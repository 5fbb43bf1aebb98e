import Autodiff
import Tensor

/// One message of the pipeline schedule: its kind and step (checked by the receiver against what its schedule
/// expects next), and a list of optional named tensors — the token rows crossing a cut forward, their gradients
/// backward, or a stage's read-back parameters. Encoded as little-endian bytes; the scalar width is part of the
/// header, so a Float stage and a Double stage cannot exchange rows unnoticed.
public struct PipelineMessage<Scalar: TensorScalar>: Equatable {
    /// What the message carries.
    public enum Kind: UInt8, Sendable, CustomStringConvertible {
        case forward = 1, backward = 2, readBack = 3
        /// How errors name it.
        public var description: String {
            switch self {
            case .forward: return "forward rows"
            case .backward: return "backward gradients"
            case .readBack: return "read-back parameters"
            }
        }
    }

    /// The kind.
    public var kind: Kind
    /// The pass (forward: 0 for the first Forward, k after step k; backward: the step).
    public var step: Int
    /// The entries: a name (empty for rows) and a tensor or nil (a node with no gradient).
    public var entries: [(name: String, tensor: Tensor<Scalar>?)]

    /// A message.
    public init(kind: Kind, step: Int, entries: [(name: String, tensor: Tensor<Scalar>?)]) {
        self.kind = kind
        self.step = step
        self.entries = entries
    }

    /// What the receiver expects, for errors: "forward rows of pass 1".
    var label: String { "\(kind) of \(kind == .backward ? "step" : "pass") \(step)" }

    /// Same kind, step, names, shapes and scalars.
    public static func == (a: Self, b: Self) -> Bool {
        a.kind == b.kind && a.step == b.step && a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.name == $1.name && $0.tensor?.shape == $1.tensor?.shape
                && $0.tensor?.scalars == $1.tensor?.scalars }
    }

    static var magic: UInt32 { 0x544E_5450 }  // "PTNT"

    /// The message as bytes.
    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.append(Self.magic)
        w.append(UInt32(kind.rawValue))
        w.append(UInt32(MemoryLayout<Scalar>.size))
        w.append(Int64(step))
        w.append(Int64(entries.count))
        for (name, tensor) in entries {
            w.append(name)
            guard let tensor else { w.append(Int64(-1)); continue }
            w.append(Int64(tensor.shape.count))
            for d in tensor.shape { w.append(Int64(d)) }
            tensor.withUnsafeBufferPointer { w.append(raw: UnsafeRawBufferPointer($0)) }
        }
        return w.bytes
    }

    /// Decodes `bytes` received by `stage` from `peer`, which must be a `kind` message of `step`.
    ///
    /// - Throws: `PipelineError.protocolMismatch` for another kind, step or scalar width; `PipelineError.transport`
    ///   for malformed bytes.
    public static func decode(_ bytes: [UInt8], expecting kind: Kind, step: Int, stage: Int, peer: Int) throws -> Self {
        var r = ByteReader(bytes: bytes, stage: stage)
        let expected = PipelineMessage(kind: kind, step: step, entries: []).label + " (\(MemoryLayout<Scalar>.size)-byte scalars) from stage \(peer)"
        guard try r.read(UInt32.self) == magic else {
            throw PipelineError.protocolMismatch(stage: stage, expected: expected, got: "\(bytes.count) bytes that are not a pipeline message")
        }
        let rawKind = try r.read(UInt32.self), width = try r.read(UInt32.self), gotStep = Int(try r.read(Int64.self))
        guard rawKind == kind.rawValue, gotStep == step, width == MemoryLayout<Scalar>.size else {
            let got = Kind(rawValue: UInt8(truncatingIfNeeded: rawKind)).map { PipelineMessage(kind: $0, step: gotStep, entries: []).label }
                ?? "message kind \(rawKind) of step \(gotStep)"
            throw PipelineError.protocolMismatch(stage: stage, expected: expected, got: "\(got) (\(width)-byte scalars)")
        }
        let count = try r.count()
        var entries: [(name: String, tensor: Tensor<Scalar>?)] = []
        for _ in 0..<count {
            let name = try r.string()
            let rank = Int(try r.read(Int64.self))
            guard rank >= 0 else { entries.append((name, nil)); continue }
            guard rank <= 8 else { throw PipelineError.transport(stage: stage, reason: "a tensor of rank \(rank) from stage \(peer)") }
            let shape = try (0..<rank).map { _ in try r.count() }
            // A corrupted shape must fail as a short message, not overflow.
            let (n, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let (byteCount, overflowBytes) = n.multipliedReportingOverflow(by: MemoryLayout<Scalar>.size)
            guard !overflow, !overflowBytes else {
                throw PipelineError.transport(stage: stage, reason: "a tensor of shape \(shape) from stage \(peer) does not fit in memory")
            }
            let tensor = try r.take(bytes: byteCount) { raw in
                Tensor<Scalar>.uninitialized(shape) { p in UnsafeMutableRawPointer(p).copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
            }
            entries.append((name, tensor))
        }
        guard r.atEnd else { throw PipelineError.transport(stage: stage, reason: "\(bytes.count - r.offset) stray bytes after a message from stage \(peer)") }
        return PipelineMessage(kind: kind, step: step, entries: entries)
    }
}

/// Little-endian bytes of fixed-width integers, strings and raw buffers.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func append<I: FixedWidthInteger>(_ v: I) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func append(_ s: String) {
        let utf8 = Array(s.utf8)
        append(Int64(utf8.count))
        bytes.append(contentsOf: utf8)
    }
    mutating func append(raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }
}

/// Reads what ``ByteWriter`` wrote, throwing `PipelineError.transport` on a short or malformed message.
struct ByteReader {
    let bytes: [UInt8]
    let stage: Int
    var offset = 0
    var atEnd: Bool { offset == bytes.count }

    init(bytes: [UInt8], stage: Int) {
        self.bytes = bytes
        self.stage = stage
    }

    mutating func take<R>(bytes n: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard n >= 0, n <= bytes.count - offset else {
            throw PipelineError.transport(stage: stage, reason: "a message ends after \(bytes.count) bytes, \(n) more expected at \(offset)")
        }
        defer { offset += n }
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + n])) }
    }

    mutating func read<I: FixedWidthInteger>(_: I.Type) throws -> I {
        try take(bytes: MemoryLayout<I>.size) { raw in
            var v = I.zero
            withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: raw) }
            return I(littleEndian: v)
        }
    }

    /// A non-negative count or dimension.
    mutating func count() throws -> Int {
        let v = try read(Int64.self)
        guard v >= 0, v <= Int64(bytes.count) * 8 + (1 << 32) else {
            throw PipelineError.transport(stage: stage, reason: "a message holds the count \(v) at byte \(offset - 8)")
        }
        return Int(v)
    }

    mutating func string() throws -> String {
        let n = try count()
        return try take(bytes: n) { String(decoding: $0, as: UTF8.self) }
    }
}
