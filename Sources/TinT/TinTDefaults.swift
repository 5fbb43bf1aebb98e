/// The paper's S = 3 and H_sim = 12 where they satisfy every rule for a graph, else the nearest valid choice
/// (Docs/TINT.md §5, "Defaults").
public struct TinTDefaults: Sendable, Equatable {
    /// The configuration with S and H_sim chosen.
    public var config: TinTConfig
    /// Why the choice differs from the paper's S = 3, H_sim = 12 (nil when it does not, or when both were given).
    public var note: String?

    /// A configuration taken as is.
    public init(config: TinTConfig, note: String?) {
        self.config = config
        self.note = note
    }

    /// Chooses S and H_sim for `graph`, keeping every other field of `base`.
    ///
    /// - An explicit `rowsPerPrefix` or `simHeads` (non-nil) is kept as given.
    /// - Otherwise S = 3 and H_sim = 12 when they satisfy every rule; else the smallest valid S ≥ 3, then the
    ///   valid H_sim nearest 12 (the smaller on a tie).
    /// - Throws: the `TinTError.ruleViolation` of the explicit (or paper's) choice when no choice is valid, so an
    ///   explicit flag that breaks a rule still names the rule.
    public init(graph: AuxGraph, base: TinTConfig = TinTConfig(), rowsPerPrefix: Int? = nil, simHeads: Int? = nil) throws {
        func candidate(_ s: Int, _ h: Int) -> TinTConfig { var c = base; c.rowsPerPrefix = s; c.simHeads = h; return c }
        let first = candidate(rowsPerPrefix ?? 3, simHeads ?? 12)
        let firstError: Error
        do {
            try TinTDefaults.check(graph, first)
            config = first
            note = nil
            return
        } catch { firstError = error }
        let D = graph.hiddenWidth
        let sChoices = rowsPerPrefix.map { [$0] } ?? Array(3...max(3, D))
        for s in sChoices where s > 0 && D % s == 0 {
            let width = D * (s + 1)
            let hChoices = simHeads.map { [$0] }
                ?? (1...width).filter { width % $0 == 0 }.sorted { (abs($0 - 12), $0) < (abs($1 - 12), $1) }
            for h in hChoices {
                let c = candidate(s, h)
                if (try? TinTDefaults.check(graph, c)) != nil {
                    config = c
                    let why = (firstError as? TinTError).map { " (\($0))" } ?? ""
                    note = "chose S=\(s), H_sim=\(h) for D_aux=\(D), H_aux=\(graph.heads): S=\(first.rowsPerPrefix), "
                        + "H_sim=\(first.simHeads) breaks a rule\(why)"
                    return
                }
            }
        }
        throw firstError
    }

    /// Every construction rule for `config` on `graph` that needs no module built: the spec's rules and every
    /// simulated map's block widths (rule `mapWidths`, naming the node).
    public static func check(_ graph: AuxGraph, _ config: TinTConfig) throws {
        let spec = SimulatorSpec(graph: graph, config: config)
        try spec.validate()
        let D = spec.auxWidth, K = spec.prefixCount
        func blocks(_ n: Int) -> Set<Int> { Set(TinTCompiler.chunks(n, D).map { TinTCompiler.moduleWidth($0.count, K) }) }
        for node in graph.nodes {
            guard case .linear(let l, _) = node.op else { continue }
            for i in blocks(l.inputWidth) {
                for o in blocks(l.outputWidth) {
                    do { try spec.validateMap(inputWidth: i, outputWidth: o) } catch TinTError.ruleViolation(let r, let s, let v) {
                        throw TinTError.ruleViolation(rule: r, statement: s, values: v + " at node '\(node.name)'")
                    }
                }
            }
        }
    }
}
