import Tensor

/// A position map of one attention stream: a `(K+1) × width` table read by the position stream (row `p` for
/// prefix `p`, row `K` for tokens) and added to head `h` with coefficient `coefficients[h]`.
struct PositionMap<Scalar: TensorScalar>: Sendable {
    /// `[(K + 1) · width]`, row-major.
    let table: [Scalar]
    /// One coefficient per head.
    let coefficients: [Scalar]
    let width: Int
    /// Whether the prefix rows of the table are the identity (`e_p` for prefix `p`, width K).
    let prefixBlockIsIdentity: Bool
    /// Per table row, its non-zero entries `(r, value)`: the tables are one-hot rows, so ``add(to:ld:positions:)``
    /// touches one coordinate per head and row instead of scanning the width.
    private let nonZeros: [[(r: Int, value: Scalar)]]

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    init(table: [Scalar], coefficients: [Scalar], width: Int) {
        precondition(table.count % width == 0)
        self.table = table
        self.coefficients = coefficients
        self.width = width
        let k = table.count / width - 1
        prefixBlockIsIdentity = k == width
            && (0..<k).allSatisfy { p in (0..<width).allSatisfy { r in table[p * width + r] == (p == r ? 1 : 0) } }
        nonZeros = (0...k).map { p in (0..<width).compactMap { r in table[p * width + r] == 0 ? nil : (r, table[p * width + r]) } }
    }

    /// `e_p` on prefix `p`, zero on tokens (needs `width == K`).
    static func prefixIndex(prefixCount k: Int, coefficients: [Scalar]) -> PositionMap {
        var t = [Scalar](repeating: 0, count: (k + 1) * k)
        for p in 0..<k { t[p * k + p] = 1 }
        return PositionMap(table: t, coefficients: coefficients, width: k)
    }

    /// `e_0` on tokens, zero on prefixes.
    static func tokenUnit(prefixCount k: Int, width: Int, coefficients: [Scalar]) -> PositionMap {
        var t = [Scalar](repeating: 0, count: (k + 1) * width)
        t[k * width] = 1
        return PositionMap(table: t, coefficients: coefficients, width: width)
    }

    /// The one non-zero entry `(r, value)` of the token rows' table row, when it has exactly one (`e_0` of
    /// ``tokenUnit(prefixCount:width:coefficients:)``).
    var tokenOneHot: (r: Int, value: Scalar)? { nonZeros[nonZeros.count - 1].count == 1 ? nonZeros[nonZeros.count - 1][0] : nil }

    /// Whether head `h` receives a non-zero position term on some row.
    func feeds(head h: Int) -> Bool { coefficients[h] != 0 && table.contains { $0 != 0 } }

    /// Adds the position terms of `rows` rows (positions `positions[i]`) to `out` (row stride `ld`), on every head
    /// or on `heads` only.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func add(to out: UnsafeMutablePointer<Scalar>, ld: Int, positions: [Int], heads: [Int]? = nil) {
        let terms = (heads ?? Array(coefficients.indices)).map { ($0, coefficients[$0]) }.filter { $0.1 != 0 }
        for (i, p) in positions.enumerated() {
            let row = out + i * ld
            for (h, c) in terms {
                let o = row + h * width
                for (r, v) in nonZeros[p] { o[r] += c * v }
            }
        }
    }

    /// `(K + 1)·width` table entries plus one coefficient per head.
    var parameterCount: Int { table.count + coefficients.count }
}
