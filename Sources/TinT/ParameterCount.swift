/// The parameters a simulator module (or a stack of them) holds, split by kind (Docs/TINT.md §7).
public struct ParameterCount: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Mix, block-map and bias weights of the module's `HSimSplitLinear` maps.
    public var constructed: Int
    /// Position-map tables and their per-head coefficients.
    public var position: Int
    /// Gate weights (`K + 2` per gate).
    public var gates: Int
    /// `K·D_sim` per prefix tensor the module reads (aux weights; parameters only where the executor holds
    /// the initial prefixes).
    public var prefixStorage: Int

    /// A count from its parts.
    public init(constructed: Int = 0, position: Int = 0, gates: Int = 0, prefixStorage: Int = 0) {
        self.constructed = constructed
        self.position = position
        self.gates = gates
        self.prefixStorage = prefixStorage
    }

    /// Everything except prefix storage: what the simulator module itself holds.
    public var moduleWeights: Int { constructed + position + gates }
    /// All four parts.
    public var total: Int { constructed + position + gates + prefixStorage }

    /// Part-wise sum.
    public static func + (a: ParameterCount, b: ParameterCount) -> ParameterCount {
        ParameterCount(constructed: a.constructed + b.constructed, position: a.position + b.position,
                       gates: a.gates + b.gates, prefixStorage: a.prefixStorage + b.prefixStorage)
    }

    /// Part-wise accumulation.
    public static func += (a: inout ParameterCount, b: ParameterCount) { a = a + b }

    /// `n` copies.
    public static func * (n: Int, a: ParameterCount) -> ParameterCount {
        ParameterCount(constructed: n * a.constructed, position: n * a.position, gates: n * a.gates,
                       prefixStorage: n * a.prefixStorage)
    }

    /// "total (constructed …, position …, gates …, prefix storage …)".
    public var description: String {
        "\(total) (constructed \(constructed), position \(position), gates \(gates), prefix storage \(prefixStorage))"
    }
}
