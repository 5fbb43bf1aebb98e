import Foundation
import Tensor

// How a dynamic update is scored: the eval-part loss, and how two methods' logit changes compare.

/// The cross-entropy of the eval-part targets of one sequence.
public struct EvalLoss: Sendable, Equatable, Codable {
    /// Summed negative log-likelihood (nats).
    public var sum: Double
    /// Targets counted.
    public var count: Int

    /// A loss from its parts.
    public init(sum: Double, count: Int) {
        self.sum = sum
        self.count = count
    }

    /// Mean NLL per target (NaN when none is counted).
    public var mean: Double { count > 0 ? sum / Double(count) : .nan }
    /// exp(mean).
    public var perplexity: Double { Foundation.exp(mean) }

    /// Part-wise sum (losses of several blocks).
    public static func + (a: EvalLoss, b: EvalLoss) -> EvalLoss { EvalLoss(sum: a.sum + b.sum, count: a.count + b.count) }
}

/// The positions t whose target t+1 is an eval token (`trainMask[t+1] == false`): where the eval-part loss
/// and the logit-change comparisons are measured.
public func evalTargetPositions(trainMask: [Bool]) -> [Int] {
    trainMask.count < 2 ? [] : (0..<(trainMask.count - 1)).filter { !trainMask[$0 + 1] }
}

/// The eval-part loss of `logits` `[T, vocab]` for `ids`: the cross-entropy of each position whose target is
/// an eval token, summed in Double.
///
/// - Throws: `TinTError.shapeMismatch`/`.invalidArgument` when the logits, ids and mask disagree or an id is
///   outside the vocabulary.
public func evalPartLoss<S: TensorScalar>(logits: Tensor<S>, ids: [Int], trainMask: [Bool]) throws -> EvalLoss {
    let module = "evalPartLoss"
    guard logits.rank == 2, logits.shape[0] == ids.count, trainMask.count == ids.count, logits.shape[1] > 0 else {
        throw TinTError.shapeMismatch(module: module, expected: [ids.count, -1], got: logits.shape,
                                      what: "the logits (one row per token, \(trainMask.count) mask flags)")
    }
    let v = logits.shape[1]
    for id in ids where id < 0 || id >= v {
        throw TinTError.invalidArgument(module: module, reason: "token id \(id) is outside the vocabulary of \(v)")
    }
    let z = logits.contiguous().scalars
    var total = 0.0
    let positions = evalTargetPositions(trainMask: trainMask)
    for t in positions {
        let row = z[(t * v)..<((t + 1) * v)].map { Double($0) }
        let m = row.max()!
        let lse = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
        total += lse - row[ids[t + 1]]
    }
    return EvalLoss(sum: total, count: positions.count)
}

/// The cosine between two methods' logit changes `a − before` and `b − before`, over the rows `positions`
/// (all rows when nil). NaN when either change is zero there.
public func logitChangeCosine<S: TensorScalar>(before: Tensor<S>, _ a: Tensor<S>, _ b: Tensor<S>,
                                               positions: [Int]? = nil) throws -> Double {
    var c = LogitChangeComparison()
    try c.add(before: before, a, b, positions: positions)
    return c.cosine
}

/// `‖Δa − Δb‖ / ‖Δb‖` for the logit changes `Δa = a − before` and the reference `Δb = reference − before`,
/// over the rows `positions` (all rows when nil): the relative error of a method's update (TINT-DESIGN §4.3).
/// NaN when the reference change is zero.
public func logitChangeRelativeError<S: TensorScalar>(before: Tensor<S>, _ a: Tensor<S>, reference: Tensor<S>,
                                                      positions: [Int]? = nil) throws -> Double {
    var c = LogitChangeComparison()
    try c.add(before: before, a, reference, positions: positions)
    return c.relativeError
}

/// Two methods' logit changes compared over many sequences (blocks): the running sums behind the cosine and
/// the relative error of `Δa` against the reference `Δb`, over every row added.
public struct LogitChangeComparison: Sendable, Equatable {
    /// Σ Δa·Δb.
    public private(set) var dot = 0.0
    /// Σ Δa².
    public private(set) var squaredNormA = 0.0
    /// Σ Δb².
    public private(set) var squaredNormB = 0.0
    /// Σ (Δa − Δb)².
    public private(set) var squaredDifference = 0.0

    /// Nothing compared yet.
    public init() {}

    /// Adds the rows `positions` (all rows when nil) of one sequence's logits `[T, vocab]`.
    public mutating func add<S: TensorScalar>(before: Tensor<S>, _ a: Tensor<S>, _ b: Tensor<S>,
                                              positions: [Int]? = nil) throws {
        let (da, db) = try logitChanges(before, a, b, positions, module: "LogitChangeComparison")
        for (x, y) in zip(da, db) {
            dot += x * y
            squaredNormA += x * x
            squaredNormB += y * y
            squaredDifference += (x - y) * (x - y)
        }
    }

    /// cos(Δa, Δb); NaN when either change is zero.
    public var cosine: Double {
        squaredNormA > 0 && squaredNormB > 0 ? dot / (squaredNormA.squareRoot() * squaredNormB.squareRoot()) : .nan
    }
    /// ‖Δa − Δb‖ / ‖Δb‖; NaN when the reference change is zero.
    public var relativeError: Double { squaredNormB > 0 ? (squaredDifference / squaredNormB).squareRoot() : .nan }
}

/// The two changes on the chosen rows, in Double.
func logitChanges<S: TensorScalar>(_ before: Tensor<S>, _ a: Tensor<S>, _ b: Tensor<S>, _ positions: [Int]?,
                                   module: String) throws -> ([Double], [Double]) {
    guard before.rank == 2, a.shape == before.shape, b.shape == before.shape else {
        throw TinTError.shapeMismatch(module: module, expected: before.shape, got: a.shape == before.shape ? b.shape : a.shape,
                                      what: "the logits (rank 2, all three alike)")
    }
    let (rows, v) = (before.shape[0], before.shape[1])
    let chosen = positions ?? Array(0..<rows)
    for p in chosen where p < 0 || p >= rows {
        throw TinTError.invalidArgument(module: module, reason: "position \(p) is outside 0..<\(rows)")
    }
    let z0 = before.contiguous().scalars, za = a.contiguous().scalars, zb = b.contiguous().scalars
    var da: [Double] = [], db: [Double] = []
    da.reserveCapacity(chosen.count * v)
    db.reserveCapacity(chosen.count * v)
    for p in chosen {
        for j in (p * v)..<((p + 1) * v) {
            da.append(Double(za[j]) - Double(z0[j]))
            db.append(Double(zb[j]) - Double(z0[j]))
        }
    }
    return (da, db)
}
