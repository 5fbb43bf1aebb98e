// The ranges of the continuous TinT options where the construction is accurate (Docs/TINT.md §4, "Accurate
// ranges"). The rules in `validate()` say when a configuration can be built at all; these say when what it
// computes is still the approximate gradient step it claims to be. Outside them the simulator runs and returns
// finite numbers that are garbage (a TinT loss of 7.2 against the oracle's 4.1 at g = 1), so callers that take
// these options from users should refuse them or warn.

extension TinTConfig {
    /// Gate sharpness `g` of `.tanh(g)` gates: at least the smallest `g` whose `tanh(g)` rounds to 1 in fp32
    /// (1 − tanh(g) ≈ 2e^(−2g) < 2^(−25) ⟺ g > 9.01; 9.1 leaves a margin). Below it every gated layer scales the
    /// carried rows by tanh(g) < 1 and the error compounds over the TinT's layers (measured: relative error of the
    /// logit change against approximate GD 0.17 at g = 9, over 1 at g ≤ 7 on the demo model). Above it gates are
    /// exact 0/1, for any g up to the largest the options accept.
    public static let accurateGateScales: ClosedRange<Double> = 9.1...1e12

    /// Scale `N` of the `.firstOrder(N)` layer-norm backward and the `.finiteDifference(N)` activation backward.
    /// Their error is truncation O(‖g‖/N) plus fp32 cancellation O(N·2⁻²⁴/‖g‖), so both ends fail. Measured on the
    /// tiny pre-LN and post-LN fixtures and the demo model: the logit change of TinT stays within 2·10⁻² relative
    /// error (cosine ≥ 0.9995) of approximate GD's for N in 70…3000; this range is the round interval inside it.
    public static let accurateFiniteDifferenceScales: ClosedRange<Double> = 100...3000

    /// The options of this configuration outside their accurate ranges, each as a sentence naming the option,
    /// the value and the range (empty when all are inside).
    public var inaccurateOptions: [String] {
        var out: [String] = []
        if case .tanh(let g) = gates, !Self.accurateGateScales.contains(g) {
            out.append("gate scale g = \(Self.number(g)) is not \(Self.describe(Self.accurateGateScales)), where "
                       + "tanh(g) rounds to 1 in fp32 and the gates are exact")
        }
        var scales: [Double] = []
        if case .firstOrder(let n) = layerNormBackward { scales.append(n) }
        if case .finiteDifference(let n) = activationBackward { scales.append(n) }
        if let n = scales.first(where: { !Self.accurateFiniteDifferenceScales.contains($0) }) {
            out.append("finite-difference scale N = \(Self.number(n)) is outside \(Self.describe(Self.accurateFiniteDifferenceScales)), "
                       + "where TinT matches approximate GD within 2% (Docs/TINT.md §4)")
        }
        return out
    }

    /// "100…3000", or "≥ 9.1" when the upper end is only the options' own limit.
    static func describe(_ r: ClosedRange<Double>) -> String {
        r.upperBound >= 1e12 ? "≥ \(number(r.lowerBound))" : "\(number(r.lowerBound))…\(number(r.upperBound))"
    }

    /// `x` without a spurious ".0" (1000, 9.1, 0.001).
    static func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)"
    }
}
