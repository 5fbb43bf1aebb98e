/// Every error the Tensor layer throws. Each case carries what is needed to say what was wrong and where.
public enum TensorError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Operand shapes are incompatible for `op` (broadcasting, matmul inner dimension, concat, …).
    case shapeMismatch(op: String, shapes: [[Int]], reason: String)
    /// A shape is not valid for `op` (negative dimension, wrong rank, element count that does not fit).
    case invalidShape(op: String, shape: [Int], reason: String)
    /// An axis is outside `-rank..<rank`.
    case axisOutOfRange(op: String, axis: Int, rank: Int)
    /// An index along `axis` is outside `0..<size`.
    case indexOutOfRange(op: String, index: Int, axis: Int, size: Int)
    /// Any other bad argument.
    case invalidArgument(op: String, reason: String)

    public var description: String {
        func fmt(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
        switch self {
        case let .shapeMismatch(op, shapes, reason):
            return "\(op): incompatible shapes \(shapes.map(fmt).joined(separator: " and ")): \(reason)"
        case let .invalidShape(op, shape, reason):
            return "\(op): invalid shape \(fmt(shape)): \(reason)"
        case let .axisOutOfRange(op, axis, rank):
            return "\(op): axis \(axis) is out of range for a tensor of rank \(rank) (valid: \(-rank)..<\(rank))"
        case let .indexOutOfRange(op, index, axis, size):
            return "\(op): index \(index) is out of range along axis \(axis) of size \(size)"
        case let .invalidArgument(op, reason):
            return "\(op): \(reason)"
        }
    }
}


/// Normalises a possibly negative axis, throwing when it is out of range.
@inline(__always)
func normalizeAxis(_ axis: Int, rank: Int, op: String) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0 && a < rank else { throw TensorError.axisOutOfRange(op: op, axis: axis, rank: rank) }
    return a
}

/// Checks that every dimension is non-negative and returns the element count.
func checkedCount(_ shape: [Int], op: String) throws -> Int {
    var n = 1
    for d in shape {
        guard d >= 0 else { throw TensorError.invalidShape(op: op, shape: shape, reason: "negative dimension") }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        guard !o else { throw TensorError.invalidShape(op: op, shape: shape, reason: "element count overflows Int") }
        n = p
    }
    return n
}
