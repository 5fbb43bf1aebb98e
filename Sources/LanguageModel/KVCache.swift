import Tensor

/// The keys and values of every token a model has seen so far, per layer, so that generation feeds only the
/// new tokens to each forward pass (`transformers`' `DynamicCache`).
///
/// Pass the same cache to successive ``CausalLM/logits(_:parameters:cache:options:)`` calls; each call
/// appends its tokens. The cache also remembers which past tokens were padding and how many real tokens each
/// row has had (for the positions of the next ones). It is for inference: a forward pass that records
/// gradients rejects it. A call that throws leaves the cache unchanged only if it threw before the layers ran
/// (bad ids, too many positions); do not reuse a cache after any other error.
public final class KVCache<Scalar: TensorScalar>: @unchecked Sendable {
    /// Rows of the batch the cache belongs to.
    public let batchSize: Int
    /// Tokens per row seen so far (including padding).
    public private(set) var length = 0
    package let layers: Int, width: Int
    package private(set) var capacity: Int
    /// Per layer: `[batchSize, capacity, width]`; rows `0..<length` are filled.
    package var keys: [Tensor<Scalar>], values: [Tensor<Scalar>]
    /// `batchSize × capacity`, 1 for a real token.
    package private(set) var keyMask: [UInt8]
    /// Whether any past token is padding (the attention then needs the mask).
    package private(set) var hasPadding = false
    /// Real tokens seen so far per row.
    package private(set) var realCounts: [Int]

    /// An empty cache for `batchSize` rows of a model with `layers` decoder layers whose keys and values are
    /// `width` wide per token (key-value heads × head width); `capacity` tokens are reserved up front (it grows
    /// as needed). ``CausalLM/makeCache(batchSize:capacity:as:)`` fills in the model's shape.
    public init(layers: Int, width: Int, batchSize: Int, capacity: Int = 64) throws {
        guard batchSize > 0 else {
            throw ModelError.invalidArgument(op: "KVCache", reason: "batchSize must be positive, got \(batchSize)")
        }
        self.batchSize = batchSize
        guard layers >= 0, width > 0 else {
            throw ModelError.invalidArgument(op: "KVCache", reason: "needs layers ≥ 0 and width > 0, got \(layers) and \(width)")
        }
        self.layers = layers
        self.width = width
        self.capacity = Swift.max(capacity, 1)
        let shape = [batchSize, self.capacity, width]
        keys = try (0..<layers).map { _ in try Tensor<Scalar>.zeros(shape) }
        values = try (0..<layers).map { _ in try Tensor<Scalar>.zeros(shape) }
        keyMask = [UInt8](repeating: 0, count: batchSize * self.capacity)
        realCounts = [Int](repeating: 0, count: batchSize)
    }

    /// Grows the buffers (doubling) so that `needed` tokens fit.
    package func reserve(_ needed: Int) throws {
        guard needed > capacity else { return }
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let (b, old, w) = (batchSize, capacity, width)
        func grown(_ t: Tensor<Scalar>) throws -> Tensor<Scalar> {
            try Tensor<Scalar>.zeros([b, newCapacity, w]) { dst in
                t.withPointer { src in
                    for r in 0..<b { (dst + r * newCapacity * w).update(from: src + r * old * w, count: length * w) }
                }
            }
        }
        keys = try keys.map(grown)
        values = try values.map(grown)
        var mask = [UInt8](repeating: 0, count: b * newCapacity)
        for r in 0..<b { for j in 0..<length { mask[r * newCapacity + j] = keyMask[r * old + j] } }
        keyMask = mask
        capacity = newCapacity
    }

    /// Records the mask of `count` new tokens (after ``reserve(_:)``) and returns their positions.
    package func appendTokens(count: Int, isReal: (Int, Int) -> Bool) {
        for r in 0..<batchSize {
            for t in 0..<count {
                let real = isReal(r, t)
                keyMask[r * capacity + length + t] = real ? 1 : 0
                if real { realCounts[r] += 1 } else { hasPadding = true }
            }
        }
    }

    /// Writes layer `layer`'s keys and values `[batchSize, count, width]` for the new tokens into rows
    /// `length..<length + count`.
    package func store(layer: Int, keys k: Tensor<Scalar>, values v: Tensor<Scalar>, count: Int) {
        let (b, cap, w, start) = (batchSize, capacity, width, length)
        func write(_ buffer: inout Tensor<Scalar>, _ src: Tensor<Scalar>) {
            buffer.withUnsafeMutableBufferPointer { dst in
                src.withPointer { s in
                    for r in 0..<b {
                        (dst.baseAddress! + (r * cap + start) * w).update(from: s + r * count * w, count: count * w)
                    }
                }
            }
        }
        write(&keys[layer], k)
        write(&values[layer], v)
    }

    /// Marks the new tokens as stored.
    package func advance(by count: Int) { length += count }

    /// Forgets every token after the first `count`, so that the next call continues from there (scoring several
    /// continuations of one prefix).
    ///
    /// - Throws: `ModelError.invalidArgument` unless `0 ≤ count ≤ length`.
    public func truncate(to count: Int) throws {
        guard count >= 0 && count <= length else {
            throw ModelError.invalidArgument(op: "KVCache.truncate", reason: "count must be in 0…\(length) (the tokens seen), got \(count)")
        }
        length = count
        hasPadding = false
        for r in 0..<batchSize {
            let row = keyMask[(r * capacity)..<(r * capacity + count)]
            realCounts[r] = row.reduce(0) { $0 + Int($1) }
            if realCounts[r] < count { hasPadding = true }
        }
    }

    /// Forgets every token (keeps the buffers).
    public func reset() {
        length = 0
        hasPadding = false
        for i in keyMask.indices { keyMask[i] = 0 }
        for i in realCounts.indices { realCounts[i] = 0 }
    }
}
