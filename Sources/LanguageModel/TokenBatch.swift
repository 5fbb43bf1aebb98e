/// Token ids for one forward pass: `batchSize` rows of `length` ids, with an optional attention mask
/// (1 = a real token, 0 = padding), as `transformers` takes `input_ids` and `attention_mask`.
///
/// Padded rows follow `transformers`: a padded token attends to nothing useful and is never a key for
/// the others, and positions count only real tokens (so a left-padded row gets the same positions as the
/// unpadded sequence).
public struct TokenBatch: Sendable, Equatable {
    /// The ids, row-major (`batchSize × length`).
    public let ids: [Int]
    /// Rows.
    public let batchSize: Int
    /// Tokens per row.
    public let length: Int
    /// 0/1 per token, row-major; `nil` means every token is real.
    public let attentionMask: [Int]?

    /// One unpadded sequence.
    public init(_ ids: [Int]) {
        self.ids = ids
        self.batchSize = 1
        self.length = ids.count
        self.attentionMask = nil
    }

    /// Rows of equal length, with an optional mask of the same shape (entries 0 or 1).
    ///
    /// - Throws: ``ModelError/invalidArgument(op:reason:)`` for ragged rows, a mask of another shape or a mask
    ///   entry other than 0 and 1.
    public init(rows: [[Int]], attentionMask: [[Int]]? = nil) throws {
        let op = "TokenBatch"
        let length = rows.first?.count ?? 0
        guard rows.allSatisfy({ $0.count == length }) else {
            throw ModelError.invalidArgument(op: op, reason: "rows have different lengths \(rows.map(\.count)); pad them (TokenBatch.padded)")
        }
        if let mask = attentionMask {
            guard mask.count == rows.count, mask.allSatisfy({ $0.count == length }) else {
                throw ModelError.invalidArgument(op: op, reason: "the attention mask must have the ids' shape [\(rows.count), \(length)]")
            }
            guard mask.allSatisfy({ $0.allSatisfy { $0 == 0 || $0 == 1 } }) else {
                throw ModelError.invalidArgument(op: op, reason: "attention mask entries must be 0 or 1")
            }
        }
        self.ids = rows.flatMap { $0 }
        self.batchSize = rows.count
        self.length = length
        self.attentionMask = attentionMask?.flatMap { $0 }
    }

    /// Which side of a row the padding goes.
    public enum PaddingSide: Sendable { case left, right }

    /// Sequences of different lengths padded with `padID` to the longest, with the matching mask. Left
    /// padding (the default) is what generation needs: every row's last token is then a real one.
    public static func padded(_ sequences: [[Int]], padID: Int, side: PaddingSide = .left) throws -> TokenBatch {
        let n = sequences.map(\.count).max() ?? 0
        var rows: [[Int]] = [], mask: [[Int]] = []
        for s in sequences {
            let pad = [Int](repeating: padID, count: n - s.count), zeros = [Int](repeating: 0, count: n - s.count)
            let ones = [Int](repeating: 1, count: s.count)
            rows.append(side == .left ? pad + s : s + pad)
            mask.append(side == .left ? zeros + ones : ones + zeros)
        }
        return try TokenBatch(rows: rows, attentionMask: mask)
    }

    /// Whether token `(row, t)` is real.
    @inline(__always)
    public func isReal(_ row: Int, _ t: Int) -> Bool { attentionMask.map { $0[row * length + t] != 0 } ?? true }

    /// The causal-LM targets: for each position, the next token of the same row, or −1 where there is none
    /// (the last position, a padded position or target, or a target `include` rejects: `include(row, t)` is
    /// asked for the target token at index `t ≥ 1`). Requiring a real source as well as a real target makes a
    /// padded row's loss that of the unpadded sequence.
    public func nextTokenTargets(include: ((Int, Int) -> Bool)? = nil) -> [Int] {
        var targets = [Int](repeating: -1, count: ids.count)
        for b in 0..<batchSize {
            for t in 0..<Swift.max(length - 1, 0) where isReal(b, t) && isReal(b, t + 1) && (include?(b, t + 1) ?? true) {
                targets[b * length + t] = ids[b * length + t + 1]
            }
        }
        return targets
    }
}
