// The parameter report from the closed formulas of Docs/TINT.md §7, without building a single module.
//
// `TinTCompiler.compile` constructs every distinct simulator module, whose position maps alone hold (K+1)·K
// weights: fine for real models, but a config within the documented limits (hidden 2²⁰) asked `tint params` for a
// 274 GB allocation just to count. This walks the same graph with the same rules and charges each module its
// closed-form count (checked against the built modules by `ParameterFormulaTests` for every module kind and option),
// in overflow-checked arithmetic, so counting costs nothing and never traps.

extension TinTParameterReport {
    /// The parameter report of the TinT that `TinTCompiler.compile(graph, config: config)` would build, computed
    /// from the closed formulas: equal to `compile(...).parameterReport`, but allocating nothing.
    ///
    /// - Throws: the errors `compile` throws for this graph and configuration (rule violations naming the node,
    ///   unsupported nodes), and `TinTError.invalidArgument` when a count overflows `Int`.
    public init(graph: AuxGraph, config: TinTConfig) throws {
        let f = try ModuleFormula(try TinTCompiler.checkProgram(graph, config: config))
        let L = graph.layerCount, nSim = config.simulatedLayers ?? L
        let steps = max(config.steps, 1)
        let backwardSets = config.reuseBackward ? 1 : steps
        let extraForwardSets = config.reuseForward ? 0 : steps
        var r = TinTParameterReport()
        for node in graph.nodes {
            let sim = node.layer.map { $0 >= L - nSim } ?? false
            let (forward, backward): ([Charge], [Charge])
            do {
                (forward, backward) = try f.charges(node, simulated: sim)
            } catch TinTError.ruleViolation(let rule, let statement, let values) {
                throw TinTError.ruleViolation(rule: rule, statement: statement, values: values + " at node '\(node.name)'")
            }
            for c in forward {
                try r.chargeChecked(c.kind, c.count, times: c.times)
                if sim { try r.chargeChecked(c.kind, c.count.withoutPrefixes, times: checkedProduct(c.times, extraForwardSets)) }
            }
            for c in backward {
                try r.chargeChecked(c.kind, c.count.withoutPrefixes, times: checkedProduct(c.times, backwardSets))
            }
        }
        try r.chargeChecked("RotaryFeatures", ParameterCount(position: try checkedProduct(f.config.auxMaxPositions, f.config.simWidth)),
                            times: graph.ropes.count)
        var embeddings = 0
        for shape in graph.tableShapes.values { embeddings = try checkedSum(embeddings, checkedProduct(shape)) }
        r.embeddings = embeddings
        r.auxParameters = graph.parameterCount
        self = r
    }

    mutating func chargeChecked(_ kind: String, _ count: ParameterCount, times n: Int) throws {
        guard n > 0 else { return }
        let scaled = try count.scaledChecked(by: n)
        if let i = entries.firstIndex(where: { $0.kind == kind }) {
            entries[i].modules = try checkedSum(entries[i].modules, n)
            entries[i].count = try entries[i].count.addingChecked(scaled)
        } else {
            entries.append(Entry(kind: kind, modules: n, count: scaled))
        }
        // The total must fit too (`total` sums the entries without checks).
        _ = try entries.reduce(embeddings) { try checkedSum($0, $1.count.total) }
    }
}

/// `times` modules of one kind, each holding `count`.
struct Charge {
    let kind: String, count: ParameterCount, times: Int
}

/// Each module's closed-form count (Docs/TINT.md §7) for one configuration, in checked arithmetic.
struct ModuleFormula {
    let config: SimulatorSpec
    let linearForward: ParameterCount, linearBackward: ParameterCount
    /// A Backward ∥ Descent block with and without the bias update (without: no bias position map, `B_Lin − π`).
    let linearBackwardDescentBias: ParameterCount, linearBackwardDescentNoBias: ParameterCount
    let layerNormForward: ParameterCount, layerNormBackward: ParameterCount, layerNormBackwardDescent: ParameterCount
    /// RMS norm's Backward ∥ Descent (only with `.full`: γ moves, there is no β, so no bias update).
    let rmsNormBackwardDescent: ParameterCount
    let attentionForward: ParameterCount
    let attentionBackwardDescentBias: ParameterCount, attentionBackwardDescentNoBias: ParameterCount
    let activationForward: ParameterCount, activationBackward: ParameterCount
    let rotaryAttentionForward: ParameterCount
    /// The group-mean layer of grouped-query attention's value Backward ∥ Descent (without its value-gradient and
    /// linear layers).
    let groupMean: ParameterCount
    let valueGradient: ParameterCount
    let gatedProductForward: ParameterCount, gatedProductBackward: ParameterCount

    init(_ c: SimulatorSpec) throws {
        config = c
        // m_L = W·H_lin (a linear-attention mix), m_S = W·H_sim (a softmax/MLP/norm mix), π = (K+1)·K + H_lin (a
        // position map), γ = K + 2 (a gate), P = K·W (a prefix tensor). W·H_lin overflows for extreme S.
        let W = c.simWidth, K = c.prefixCount
        let mL = try checkedProduct(W, c.linearHeads), mS = try checkedProduct(W, c.simHeads)
        let pi = try checkedSum(try checkedProduct(K + 1, K), c.linearHeads), gamma = K + 2, prefix = try checkedProduct(K, W)
        func count(_ m: Int, mix: Int, _ positionMaps: Int, _ gates: Int, prefixes: Int) throws -> ParameterCount {
            ParameterCount(constructed: try checkedProduct(m, mix), position: try checkedProduct(positionMaps, pi),
                           gates: try checkedProduct(gates, gamma), prefixStorage: try checkedProduct(prefixes, prefix))
        }
        func lin(_ n: Int, _ positionMaps: Int, _ gates: Int) throws -> ParameterCount {
            try count(n, mix: mL, positionMaps, gates, prefixes: 1)
        }
        linearForward = try lin(5, 3, 2)
        linearBackward = try lin(4, 1, 2)
        linearBackwardDescentBias = try lin(6, 3, 3)
        linearBackwardDescentNoBias = try lin(6, 2, 3)
        let jacobian: ParameterCount
        if case .exact = c.layerNormBackward { jacobian = try count(1, mix: mS, 0, 2, prefixes: 0) } else {
            jacobian = try count(5, mix: mS, 0, 6, prefixes: 0)
        }
        layerNormForward = try count(1, mix: mS, 0, 2, prefixes: 0).addingChecked(linearForward)
        layerNormBackward = try linearBackward.addingChecked(jacobian)
        // β only: the Descent has no weight-matrix update heads (5 m_L instead of 6).
        let lnDescent = c.layerNormUpdate == .full ? linearBackwardDescentBias : try lin(5, 3, 3)
        layerNormBackwardDescent = try lnDescent.addingChecked(jacobian)
        rmsNormBackwardDescent = try linearBackwardDescentNoBias.addingChecked(jacobian)
        attentionForward = try count(9, mix: mL, 3, 8, prefixes: 3)
            .addingChecked(try count(5, mix: mS, 0, 0, prefixes: 0))
        valueGradient = try count(5, mix: mS, 0, 2, prefixes: 0)
        attentionBackwardDescentBias = try valueGradient.addingChecked(linearBackwardDescentBias)
        attentionBackwardDescentNoBias = try valueGradient.addingChecked(linearBackwardDescentNoBias)
        activationForward = try count(2, mix: mS, 0, 2, prefixes: 0)
        if case .exact = c.activationBackward { activationBackward = try count(1, mix: mS, 0, 2, prefixes: 0) } else {
            activationBackward = try count(3, mix: mS, 0, 2, prefixes: 0)
        }
        // Five LinearForwards (Q, P_rot·Q, K, P_rot·K, V), two rotation GLU layers (gate, output and residual maps),
        // the softmax layer.
        rotaryAttentionForward = try linearForward.scaledChecked(by: 5)
            .addingChecked(try count(6, mix: mS, 0, 4, prefixes: 0)).addingChecked(valueGradient)
        // A mix over D_sim/d_head heads of the aux head width.
        groupMean = try count(1, mix: try checkedProduct(W, W / c.auxHeadWidth), 0, 2, prefixes: 0)
        // A GLU layer: gate, up, output and residual maps.
        let glu = try count(4, mix: mS, 0, 2, prefixes: 0)
        gatedProductForward = glu
        gatedProductBackward = try glu.addingChecked(activationBackward)
    }

    /// The forward and (when `simulated`) backward modules the compiler builds for `node`: its unit's charges
    /// (``AuxOpUnit/charges(_:simulated:formula:)``), with the same checks.
    func charges(_ node: AuxNode, simulated sim: Bool) throws -> (forward: [Charge], backward: [Charge]) {
        try AuxOpUnits.charges(node, simulated: sim, formula: self)
    }
}

extension ParameterCount {
    /// Without the prefix storage (a module charged again for another step holds no new prefixes).
    var withoutPrefixes: ParameterCount {
        var c = self
        c.prefixStorage = 0
        return c
    }

    func scaledChecked(by n: Int) throws -> ParameterCount {
        ParameterCount(constructed: try checkedProduct(n, constructed), position: try checkedProduct(n, position),
                       gates: try checkedProduct(n, gates), prefixStorage: try checkedProduct(n, prefixStorage))
    }

    func addingChecked(_ o: ParameterCount) throws -> ParameterCount {
        ParameterCount(constructed: try checkedSum(constructed, o.constructed), position: try checkedSum(position, o.position),
                       gates: try checkedSum(gates, o.gates), prefixStorage: try checkedSum(prefixStorage, o.prefixStorage))
    }
}

func checkedProduct(_ xs: Int...) throws -> Int { try checkedProduct(xs) }

func checkedProduct(_ xs: [Int]) throws -> Int {
    var r = 1
    for x in xs {
        let (v, overflow) = r.multipliedReportingOverflow(by: x)
        if overflow { throw countOverflow }
        r = v
    }
    return r
}

func checkedSum(_ a: Int, _ b: Int) throws -> Int {
    let (v, overflow) = a.addingReportingOverflow(b)
    if overflow { throw countOverflow }
    return v
}

private let countOverflow = TinTError.invalidArgument(module: "TinTParameterReport",
                                                      reason: "the parameter count does not fit a 64-bit integer")
