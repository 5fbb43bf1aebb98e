import Tensor

/// Builds the cross-head mix of a mix-only `HSimSplitLinear` by routing heads: the constructed maps of every
/// simulator module are made this way (Docs/TINT.md §3).
struct MixBuilder<Scalar: TensorScalar> {
    let width: Int
    let heads: Int
    var headWidth: Int { width / heads }
    private var mix: [Scalar]

    init(width: Int, heads: Int) {
        precondition(width % heads == 0)
        self.width = width
        self.heads = heads
        mix = [Scalar](repeating: 0, count: heads * heads * (width / heads))
    }

    /// Adds `coefficient ×` input head `from` into output head `to`, on within-head coordinates `coordinates`
    /// (all by default).
    mutating func route(from: Int, to: Int, _ coefficient: Scalar = 1, coordinates: Range<Int>? = nil) {
        precondition(from >= 0 && from < heads && to >= 0 && to < heads, "head out of range")
        let d = headWidth
        for r in coordinates ?? 0..<d { mix[(from * heads + to) * d + r] += coefficient }
    }

    /// Routes every head of `region` to itself (preserves it).
    mutating func keep(_ region: Range<Int>) { for h in region { route(from: h, to: h) } }

    var isEmpty: Bool { !mix.contains { $0 != 0 } }

    /// The mix-only layer, or nil when nothing is routed (a zero map).
    func build() throws -> HSimSplitLinear<Scalar>? {
        if isEmpty { return nil }
        return try HSimSplitLinear(width: width, heads: heads,
                                   mix: try Tensor(shape: [heads, heads, headWidth], scalars: mix))
    }
}

/// Heads `[offset/unit, (offset+width)/unit)` of a region given in coordinates.
@inline(__always)
func headRange(_ offset: Int, _ width: Int, unit: Int) -> Range<Int> { (offset / unit)..<((offset + width) / unit) }

/// `[0, 1, …, K−1]` (prefix positions) or `K` repeated (token positions).
func positions(_ group: RowGroup, count: Int, prefixCount k: Int) -> [Int] {
    group == .prefixes ? Array(0..<count) : [Int](repeating: k, count: count)
}
