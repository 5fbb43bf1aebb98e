/// The parameters of a compiled TinT, by module kind (Docs/TINT.md §7–§8).
///
/// Every TinT layer is charged its own constructed weights, position maps and gates, even where the executor
/// shares one instance between nodes of the same shape. The first Forward of every node also holds its prefix
/// tensors (the aux weights, `K·D_sim` each). The Backward ∥ Descent modules of the simulated nodes are counted
/// once when `reuseBackward` (else once per step), and the final Forward of the simulated nodes adds nothing
/// when `reuseForward` (else one set per step). The embedding tables are shared with the aux model.
public struct TinTParameterReport: Sendable, Equatable, CustomStringConvertible {
    /// One module kind's share.
    public struct Entry: Sendable, Equatable {
        /// The module type, e.g. `LinearForward`.
        public var kind: String
        /// How many TinT modules of this kind are charged.
        public var modules: Int
        /// Their parameters, by part.
        public var count: ParameterCount
    }

    /// The module kinds in order of first appearance.
    public var entries: [Entry] = []
    /// The embedding tables (token, positions, untied head), shared with the aux model.
    public var embeddings: Int = 0
    /// The aux model's own parameters.
    public var auxParameters: Int = 0

    /// Everything the TinT holds: modules, prefixes and the shared embeddings.
    public var total: Int { entries.reduce(embeddings) { $0 + $1.count.total } }
    /// The prefix tensors' share (the aux weights laid out as prefixes).
    public var prefixStorage: Int { entries.reduce(0) { $0 + $1.count.prefixStorage } }

    mutating func charge(_ kind: String, _ count: ParameterCount, times n: Int = 1) {
        guard n > 0 else { return }
        if let i = entries.firstIndex(where: { $0.kind == kind }) {
            entries[i].modules += n
            entries[i].count += n * count
        } else {
            entries.append(Entry(kind: kind, modules: n, count: n * count))
        }
    }

    /// A table: one line per kind, then the embeddings, the total and the aux count.
    public var description: String {
        func f(_ n: Int) -> String {
            let s = String(n)
            var out = ""
            for (i, c) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 { out.append(",") }; out.append(c) }
            return String(out.reversed())
        }
        var lines = ["module kind                  modules   module weights   prefix storage            total"]
        for e in entries {
            lines.append(e.kind.padding(toLength: 28, withPad: " ", startingAt: 0)
                         + String(e.modules).leftPadded(8) + f(e.count.moduleWeights).leftPadded(17)
                         + f(e.count.prefixStorage).leftPadded(17) + f(e.count.total).leftPadded(17))
        }
        lines.append("embeddings (shared with the aux model)".padding(toLength: 70, withPad: " ", startingAt: 0)
                     + f(embeddings).leftPadded(17))
        lines.append("TinT total".padding(toLength: 70, withPad: " ", startingAt: 0) + f(total).leftPadded(17))
        lines.append("aux model".padding(toLength: 70, withPad: " ", startingAt: 0) + f(auxParameters).leftPadded(17))
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

extension TinTProgram {
    /// The parameter accounting of this program (see ``TinTParameterReport``).
    public var parameterReport: TinTParameterReport {
        var r = TinTParameterReport()
        let steps = max(config.steps, 1)
        let backwardSets = config.reuseBackward ? 1 : steps
        let extraForwardSets = config.reuseForward ? 0 : steps
        func weightsOnly(_ c: ParameterCount) -> ParameterCount {
            var c = c
            c.prefixStorage = 0
            return c
        }
        for (plan, sim) in zip(plans, simulated) {
            // (kind, count) of the node's forward modules and of its backward modules.
            let forward = plan.forwardModules, backward = plan.backwardModules
            for (kind, c) in forward {
                r.charge(kind, c)
                if sim { r.charge(kind, weightsOnly(c), times: extraForwardSets) }
            }
            for (kind, c) in backward { r.charge(kind, weightsOnly(c), times: backwardSets) }
        }
        // The compiled modules hold these tables, so the count fits.
        r.charge("RotaryFeatures", ParameterCount(position: spec.auxMaxPositions * spec.simWidth), times: graph.ropes.count)
        r.embeddings = graph.tableShapes.values.reduce(0) { $0 + $1.reduce(1, *) }
        r.auxParameters = graph.parameterCount
        return r
    }
}

extension AuxGraph {
    /// The distinct ropes (θ, scaling) of the graph's attention nodes. A TinT holds one `[T_aux, D_sim]` table of
    /// cos/sin rows per rope (`RotaryFeatures`), an input shared by every rotary attention layer like the aux model's
    /// position embeddings (Docs/TINT.md §10).
    var ropes: [AuxRotary] {
        var out: [AuxRotary] = []
        for node in nodes {
            if case .attention(let a) = node.op, let r = a.rotary, !out.contains(r) { out.append(r) }
        }
        return out
    }
}
