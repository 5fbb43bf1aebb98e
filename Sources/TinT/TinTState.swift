import Tensor

/// The simulator state: `[K prefix rows ; T token rows] × D_sim`, kept as two tensors, and the train mask.
///
/// Positions are implicit: prefix row `p` has position stream `[e_p ; 0]`, every token row `[0 ; 1]`
/// (Docs/TINT.md §1).
public struct TinTState<Scalar: TensorScalar>: Sendable {
    /// The K prefix rows, shape `[K, D_sim]`.
    public var prefixes: Tensor<Scalar>
    /// The T token rows, shape `[T, D_sim]`.
    public var tokens: Tensor<Scalar>
    /// `trainMask[t]` is true for tokens of the training segment.
    public var trainMask: [Bool]
    /// Independent sequences side by side (`single-ft` in-context learning): `segmentStarts[t]` is the first token of
    /// token `t`'s sequence. Token rows attend only within their sequence, and its positions restart at 0. nil: one
    /// sequence.
    public var segmentStarts: [Int]? = nil
    /// When set, every layer applied to the state adds the FLOPs of its products.
    public var flopCounter: TinTFlopCounter? = nil

    /// Token `t`'s position: `t`, or its offset in its sequence.
    public func position(_ t: Int) -> Int { t - (segmentStarts?[t] ?? 0) }

    /// A state; throws when the widths differ or the mask length is not the token count.
    public init(prefixes: Tensor<Scalar>, tokens: Tensor<Scalar>, trainMask: [Bool]) throws {
        guard prefixes.rank == 2, tokens.rank == 2, prefixes.shape[1] == tokens.shape[1] else {
            throw TinTError.invalidArgument(module: "TinTState",
                                            reason: "prefixes \(prefixes.shape) and tokens \(tokens.shape) must be [K, D_sim] and [T, D_sim]")
        }
        guard trainMask.count == tokens.shape[0] else {
            throw TinTError.invalidArgument(module: "TinTState",
                                            reason: "train mask has \(trainMask.count) entries for \(tokens.shape[0]) tokens")
        }
        self.prefixes = prefixes.contiguous()
        self.tokens = tokens.contiguous()
        self.trainMask = trainMask
    }

    /// A state whose token rows hold `signal` (`[T, width]`) in coordinates `[0, width)` and zeros elsewhere.
    public init(prefixes: Tensor<Scalar>, signal: Tensor<Scalar>, trainMask: [Bool]) throws {
        guard prefixes.rank == 2, signal.rank == 2, signal.shape[1] <= prefixes.shape[1] else {
            throw TinTError.invalidArgument(module: "TinTState",
                                            reason: "signal \(signal.shape) must be [T, ≤ D_sim] for prefixes \(prefixes.shape)")
        }
        let T = signal.shape[0], W = prefixes.shape[1], w = signal.shape[1]
        // One pass: each row is the signal then zeros (no zero fill of the whole rows first).
        let tokens = signal.withUnsafeBufferPointer { s in
            Tensor<Scalar>.uninitialized([T, W]) { t in
                copyRowsPadded(from: s.baseAddress!, count: w, rows: T, to: t, stride: W, width: W)
            }
        }
        try self.init(prefixes: prefixes, tokens: tokens, trainMask: trainMask)
    }

    /// K.
    public var prefixCount: Int { prefixes.shape[0] }
    /// T.
    public var tokenCount: Int { tokens.shape[0] }
    /// D_sim.
    public var width: Int { tokens.shape[1] }

    /// Token-row coordinates `[offset, offset + width)` as a `[T, width]` tensor.
    public func tokenRegion(_ offset: Int, _ width: Int) throws -> Tensor<Scalar> {
        try tokens.sliced(axis: 1, offset..<(offset + width)).contiguous()
    }

    /// Checks the state against a configuration.
    func validate(_ config: SimulatorSpec, module: String) throws {
        try requireShape(prefixes, [config.prefixCount, config.simWidth], module: module, what: "state.prefixes")
        guard tokens.rank == 2, tokens.shape[1] == config.simWidth else {
            throw TinTError.shapeMismatch(module: module, expected: [tokenCount, config.simWidth], got: tokens.shape,
                                          what: "state.tokens")
        }
        try config.validateSequence(tokenCount)
    }
}

/// The two kinds of rows.
enum RowGroup: Sendable { case prefixes, tokens }

/// Rows per chunk when rows of `width` scalars are copied in parallel: about 128K scalars (~25 µs), so a `[T, D_sim]`
/// state of a few megabytes splits over the threads and a small one stays on one.
func rowCopyGrain(width: Int) -> Int { Swift.max(1, (1 << 17) / Swift.max(width, 1)) }

/// `rows` rows of `count` scalars (contiguous in `src`) into rows `stride` apart in `dst`, each padded with zeros to
/// `width` (columns `width..<stride` untouched); the rows split over threads (``rowCopyGrain(width:)``).
func copyRowsPadded<S: TensorScalar>(from src: UnsafePointer<S>, count: Int, rows: Int, to dst: UnsafeMutablePointer<S>,
                                     stride: Int, width: Int) {
    let p = UncheckedSendable((src, dst))
    parallelChunks(count: rows, grain: rowCopyGrain(width: stride)) { range in
        for r in range { copyRowPadded(from: p.value.0 + r * count, count: count, to: p.value.1 + r * stride, width: width) }
    }
}

/// `dst[0..<count] = src[0..<count]`, `dst[count..<width] = 0`, as raw memory moves (a memcpy and a memset, with no
/// per-element generic copy even where the caller is not specialised).
@inline(__always)
func copyRowPadded<S: TensorScalar>(from src: UnsafePointer<S>, count: Int, to dst: UnsafeMutablePointer<S>, width: Int) {
    let size = MemoryLayout<S>.stride
    UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * size)
    UnsafeMutableRawPointer(dst + count).initializeMemory(as: UInt8.self, repeating: 0, count: (width - count) * size)
}
