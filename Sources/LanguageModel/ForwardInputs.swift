import Tensor

/// What every family's forward pass checks and derives from its inputs before the first layer runs: the batch
/// is not empty, every id is in the vocabulary, a KV cache fits the batch and the model; each token's position;
/// the keys attention must drop. Making it also appends this call's tokens to the cache.
public struct ForwardInputs: Sendable {
    /// Rows and tokens per row of the batch.
    public let batchSize: Int, length: Int
    /// Each token's position, row-major: the row's real tokens counted from 0, continuing from the cache's
    /// (`transformers`' `position_ids` as `generate()` builds them from the attention mask, so a left-padded row
    /// gets the positions of the unpadded sequence). A padding token gets `paddingPosition`.
    public let positions: [Int]
    /// The cache's length before this call (0 without a cache).
    public let past: Int
    /// Keys to drop (padded tokens of this batch and of the cache), `batchSize × keys`, or nil when none is
    /// padding.
    public let keyMask: [UInt8]?

    /// Checks and derives the inputs of a forward pass of `config`'s model.
    ///
    /// - Parameters:
    ///   - op: names the forward in error messages (`"GPT2Model.forward"`).
    ///   - positions: explicit positions (`batchSize × length`, non-negative) instead of counted ones.
    ///   - paddingPosition: the position a padding token gets (its output is never used).
    ///   - positionKey: the config key that bounds positions, for the message (`n_positions`).
    /// - Throws: ``ModelError/invalidTokenID(id:vocabularySize:)`` for an id outside the vocabulary,
    ///   ``ModelError/invalidArgument(op:reason:)`` for an empty batch, bad explicit positions, a position past
    ///   `max_position_embeddings`, or a cache of another batch size or model shape. Nothing is appended to the
    ///   cache when it throws.
    public init<S: TensorScalar>(_ batch: TokenBatch, config: any CausalLMConfig, cache: KVCache<S>?, op: String,
                                 positions explicit: [Int]? = nil, paddingPosition: Int = 0,
                                 positionKey: String = "max_position_embeddings") throws {
        let (bsz, t) = (batch.batchSize, batch.length)
        guard bsz > 0 && t > 0 else {
            throw ModelError.invalidArgument(op: op, reason: "the batch is empty (\(bsz) rows of \(t) tokens)")
        }
        for id in batch.ids where id < 0 || id >= config.vocabSize {
            throw ModelError.invalidTokenID(id: id, vocabularySize: config.vocabSize)
        }
        if let cache, cache.batchSize != bsz {
            throw ModelError.invalidArgument(op: op, reason: "the KV cache holds \(cache.batchSize) rows, the batch has \(bsz)")
        }
        if let cache, cache.layers != config.numHiddenLayers || cache.width != config.keyValueWidth {
            throw ModelError.invalidArgument(op: op, reason: "the KV cache was made for another model shape")
        }
        var positions: [Int]
        var maxPosition = -1
        if let explicit {
            guard explicit.count == bsz * t, explicit.allSatisfy({ $0 >= 0 }) else {
                throw ModelError.invalidArgument(op: op, reason: "positions must be \(bsz * t) non-negative integers, got \(explicit.count)")
            }
            positions = explicit
            maxPosition = explicit.max() ?? -1
        } else {
            positions = [Int](repeating: paddingPosition, count: bsz * t)
            for b in 0..<bsz {
                var seen = cache?.realCounts[b] ?? 0
                for i in 0..<t where batch.isReal(b, i) {
                    positions[b * t + i] = seen
                    maxPosition = Swift.max(maxPosition, seen)
                    seen += 1
                }
            }
        }
        guard maxPosition < config.maxPositionEmbeddings else {
            throw ModelError.invalidArgument(op: op, reason: "the sequence reaches position \(maxPosition) (\(maxPosition + 1) tokens) "
                                             + "but the model has \(positionKey) \(config.maxPositionEmbeddings)")
        }
        let past = cache?.length ?? 0
        if let cache {
            try cache.reserve(past + t)
            cache.appendTokens(count: t) { batch.isReal($0, $1) }
        }
        if let cache {
            keyMask = cache.hasPadding ? cache.keyMask : nil
        } else if let mask = batch.attentionMask, mask.contains(0) {
            keyMask = mask.map { $0 != 0 ? 1 : 0 }
        } else {
            keyMask = nil
        }
        self.batchSize = bsz
        self.length = t
        self.positions = positions
        self.past = past
    }
}
