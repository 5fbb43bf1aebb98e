import Autodiff
import Tensor

/// Runs a compiled TinT on token sequences (TINT-DESIGN §2): Forward through every aux node, the loss gradient
/// of the summed cross-entropy over train targets, Backward ∥ Descent through the simulated nodes from the top
/// down, and Forward again through them with the updated prefixes — `steps` times. Every data movement outside
/// the simulator modules is in ``TinTGlue``.
public struct TinTExecutor: Sendable {
    /// The compiled program.
    public let program: TinTProgram
    /// The aux parameters the prefixes were encoded from (the base of the read-back weights).
    public let parameters: ParameterSet<Float>
    /// Per node, its prefix tensors: linear block `(j, i)` at `j·C_in + i`; attention Q, K, V; one for a norm.
    let initialPrefixes: [[Tensor<Float>]]
    let tables: [String: Tensor<Float>]
    let zeroPrefixes: Tensor<Float>

    /// Encodes the aux weights into prefix tensors.
    ///
    /// - Throws: `TinTError.invalidArgument` naming a parameter the graph needs that `parameters` lacks, or
    ///   one with the wrong shape.
    public init(program: TinTProgram, parameters: ParameterSet<Float>) throws {
        self.program = program
        self.parameters = parameters
        let config = program.config
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor<Float> {
            guard let t = parameters[name] else {
                throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the aux parameters lack '\(name)'")
            }
            guard t.shape == shape else {
                throw TinTError.shapeMismatch(module: "TinTExecutor", expected: shape, got: t.shape, what: "aux parameter '\(name)'")
            }
            return t
        }
        func linear(_ l: AuxLinear) throws -> (Tensor<Float>, Tensor<Float>?) {
            (try tensor(l.weight, [l.outputWidth, l.inputWidth]), try l.bias.map { try tensor($0, [l.outputWidth]) })
        }
        let D = config.auxWidth
        var prefixes: [[Tensor<Float>]] = []
        for plan in program.plans {
            switch plan {
            case .tokenEmbedding, .positionEmbedding, .add, .activation:
                prefixes.append([])
            case .linear(let p):
                let (w, b) = try linear(p.linear)
                let scale = p.biasInEveryBlock ? 1 / Float(p.inputChunks.count) : 1
                var slots: [Tensor<Float>] = []
                for o in p.outputChunks {
                    for (i, c) in p.inputChunks.enumerated() {
                        slots.append(try TinTGlue.linearPrefixes(weight: w, bias: p.biasInEveryBlock || i == 0 ? b : nil,
                                                                 outputs: o, inputs: c, biasScale: scale, config: config))
                    }
                }
                prefixes.append(slots)
            case .layerNorm(let p):
                let gamma = try p.weight.map { try tensor($0, [D]) } ?? Tensor<Float>.ones([D])
                let beta = try p.bias.map { try tensor($0, [D]) } ?? Tensor<Float>.zeros([D])
                prefixes.append([try LinearPrefixLayout.encodeLayerNorm(gamma: gamma, beta: beta, config: config)])
            case .attention(let p):
                prefixes.append(try [p.query, p.key, p.value].map { l in
                    let (w, b) = try linear(l)
                    return try LinearPrefixLayout.encode(weight: w, bias: b, config: config)
                })
            }
        }
        initialPrefixes = prefixes
        var tables: [String: Tensor<Float>] = [:]
        for (name, shape) in program.graph.tableShapes { tables[name] = try tensor(name, shape).contiguous() }
        if tables[program.graph.headWeight] == nil {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the graph has no table for its head '\(program.graph.headWeight)'")
        }
        self.tables = tables
        zeroPrefixes = try Tensor<Float>.zeros([config.prefixCount, config.simWidth])
    }

    /// One TinT forward pass over `ids` with `trainMask` marking the train part (Docs/TINT.md §8): the logits of
    /// the unmodified aux model as simulated, and the logits after `config.steps` internal SGD steps.
    /// `readBack` also decodes the updated aux weights out of the prefixes.
    ///
    /// - Throws: `TinTError.invalidArgument` for an empty sequence, an id outside the vocabulary or a mask of
    ///   another length; `TinTError.ruleViolation` (`sequenceLength`) for a sequence longer than T_aux;
    ///   `TinTError.nonFiniteValue` when the logits before or after a step hold a NaN or an infinity.
    public func run(ids: [Int], trainMask: [Bool], readBack: Bool = false) throws -> DescentOutcome {
        let config = program.config, graph = program.graph
        let head = tables[graph.headWeight]!
        guard !ids.isEmpty else { throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the sequence is empty") }
        guard trainMask.count == ids.count else {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the train mask has \(trainMask.count) entries for \(ids.count) tokens")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= head.shape[0] }) {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "token id \(bad) is outside the vocabulary 0..<\(head.shape[0])")
        }
        try config.validateSequence(ids.count)

        var run = Run(executor: self, ids: ids, trainMask: trainMask)
        for n in graph.nodes.indices { try run.forward(n) }
        let before = try TinTGlue.logits(run.values[graph.output]!, head: head)
        try requireFinite(before, module: "TinT", step: 0, tensor: "logits")
        var after = before
        for step in 1...max(config.steps, 1) where step <= config.steps {
            let gradient = try TinTGlue.lossGradient(logits: after, head: head, ids: ids, trainMask: trainMask,
                                                     lastPositionUnmasked: config.referenceCompatible)
            try run.backward(from: gradient)
            for n in graph.nodes.indices where program.simulated[n] { try run.forward(n) }
            after = try TinTGlue.logits(run.values[graph.output]!, head: head)
            try requireFinite(after, module: "TinT", step: step, tensor: "logits")
        }
        return DescentOutcome(logitsBefore: before, logitsAfter: after, parameters: readBack ? try run.readBack() : nil)
    }
}

/// The state of one run: node values, stored post-Forward token rows, and the current prefixes.
private struct Run {
    let executor: TinTExecutor
    let ids: [Int], trainMask: [Bool]
    var prefixes: [[Tensor<Float>]]
    var values: [Tensor<Float>?]
    var stored: [[Tensor<Float>]]

    init(executor: TinTExecutor, ids: [Int], trainMask: [Bool]) {
        self.executor = executor
        self.ids = ids
        self.trainMask = trainMask
        prefixes = executor.initialPrefixes
        values = Array(repeating: nil, count: executor.program.plans.count)
        stored = Array(repeating: [], count: executor.program.plans.count)
    }

    var program: TinTProgram { executor.program }
    var D: Int { program.config.auxWidth }

    /// Runs node `n`'s Forward modules; stores their post-Forward rows when the node is simulated backward.
    mutating func forward(_ n: Int) throws {
        let node = program.graph.nodes[n], keep = program.simulated[n]
        let inputs = node.inputs.map { values[$0]! }
        var saved: [Tensor<Float>] = []
        func apply(_ state: inout TinTState<Float>, width: Int, _ body: (inout TinTState<Float>) throws -> Void) throws -> Tensor<Float> {
            try body(&state)
            if keep { saved.append(state.tokens) }
            return try TinTGlue.signal(state, width: width)
        }
        switch program.plans[n] {
        case .tokenEmbedding(let w):
            values[n] = try TinTGlue.lookup(executor.tables[w]!, ids: ids, offset: 0)
        case .positionEmbedding(let w, let offset):
            values[n] = try TinTGlue.lookup(executor.tables[w]!, ids: Array(0..<ids.count), offset: offset)
        case .add:
            values[n] = try TinTGlue.sum(inputs)
        case .linear(let p):
            var outputs: [Tensor<Float>] = []
            for (j, o) in p.outputChunks.enumerated() {
                var partial: [Tensor<Float>] = []
                for (i, c) in p.inputChunks.enumerated() {
                    var state = try TinTGlue.freshState(try TinTGlue.columns(inputs[0], c),
                                                        prefixes: prefixes[n][j * p.inputChunks.count + i], trainMask: trainMask)
                    partial.append(try apply(&state, width: o.count) { try p.forward[j][i].apply(&$0) })
                }
                outputs.append(try TinTGlue.sum(partial))
            }
            values[n] = try TinTGlue.concatenate(outputs)
        case .layerNorm(let p):
            var state = try TinTGlue.freshState(inputs[0], prefixes: prefixes[n][0], trainMask: trainMask)
            values[n] = try apply(&state, width: D) { try p.forward.apply(&$0) }
        case .attention(let p):
            var state = try TinTGlue.freshState(inputs[0], prefixes: prefixes[n][0], trainMask: trainMask)
            let (q, k, v) = (prefixes[n][0], prefixes[n][1], prefixes[n][2])
            values[n] = try apply(&state, width: D) { try p.forward.apply(&$0, query: q, key: k, value: v) }
        case .activation(let p):
            var outputs: [Tensor<Float>] = []
            for c in p.chunks {
                var state = try TinTGlue.freshState(try TinTGlue.columns(inputs[0], c), prefixes: executor.zeroPrefixes,
                                                    trainMask: trainMask)
                outputs.append(try apply(&state, width: c.count) { try p.forward.apply(&$0) })
            }
            values[n] = try TinTGlue.concatenate(outputs)
        }
        if keep { stored[n] = saved }
    }

    /// Backward ∥ Descent from the output node down through the simulated nodes; gradients reaching a node that
    /// is not simulated are dropped.
    mutating func backward(from outputGradient: Tensor<Float>) throws {
        let nodes = program.graph.nodes
        var gradients = [Tensor<Float>?](repeating: nil, count: nodes.count)
        gradients[program.graph.output] = outputGradient
        for n in nodes.indices.reversed() where program.simulated[n] {
            guard let g = gradients[n] else { continue }
            for (input, gi) in zip(nodes[n].inputs, try backward(n, g)) where program.simulated[input] {
                gradients[input] = try gradients[input].map { try $0 + gi } ?? gi
            }
        }
    }

    /// Node `n`'s Backward ∥ Descent: the gradients w.r.t. its inputs; its prefixes become the updated ones.
    private mutating func backward(_ n: Int, _ g: Tensor<Float>) throws -> [Tensor<Float>] {
        let saved = stored[n], mask = trainMask
        func restored(_ k: Int, _ gradient: Tensor<Float>, _ prefixes: Tensor<Float>) throws -> TinTState<Float> {
            try TinTGlue.restoredState(saved[k], gradient: gradient, signalWidth: D, prefixes: prefixes, trainMask: mask)
        }
        switch program.plans[n] {
        case .tokenEmbedding, .positionEmbedding:
            return []
        case .add:
            return program.graph.nodes[n].inputs.map { _ in g }
        case .linear(let p):
            let nIn = p.inputChunks.count
            var inputGradients = [Tensor<Float>?](repeating: nil, count: nIn)
            for (j, o) in p.outputChunks.enumerated() {
                let gj = try TinTGlue.columns(g, o)
                for (i, c) in p.inputChunks.enumerated() {
                    let slot = j * nIn + i
                    var state = try restored(slot, gj, prefixes[n][slot])
                    try p.backward![j][i].apply(&state)
                    if p.descends { prefixes[n][slot] = state.prefixes }
                    let gi = try TinTGlue.signal(state, width: c.count)
                    inputGradients[i] = try inputGradients[i].map { try $0 + gi } ?? gi
                }
            }
            return [try TinTGlue.concatenate(inputGradients.map { $0! })]
        case .layerNorm(let p):
            var state = try restored(0, g, prefixes[n][0])
            try p.backward!.apply(&state)
            if p.descends { prefixes[n][0] = state.prefixes }
            return [try TinTGlue.signal(state, width: D)]
        case .attention(let p):
            var state = try restored(0, g, prefixes[n][2])
            try p.backward!.apply(&state)
            prefixes[n][2] = state.prefixes
            return [try TinTGlue.signal(state, width: D)]
        case .activation(let p):
            var chunks: [Tensor<Float>] = []
            for (k, c) in p.chunks.enumerated() {
                var state = try restored(k, try TinTGlue.columns(g, c), executor.zeroPrefixes)
                try p.backward!.apply(&state)
                chunks.append(try TinTGlue.signal(state, width: c.count))
            }
            return [try TinTGlue.concatenate(chunks)]
        }
    }

    /// The aux parameters with the simulated nodes' weights decoded from the current prefixes.
    func readBack() throws -> ParameterSet<Float> {
        var out = executor.parameters
        let config = program.config
        for (n, plan) in program.plans.enumerated() where program.simulated[n] {
            switch plan {
            case .linear(let p) where p.descends:
                var rows: [Tensor<Float>] = [], biases: [Tensor<Float>] = []
                for (j, o) in p.outputChunks.enumerated() {
                    var blocks: [Tensor<Float>] = []
                    var bias = try Tensor<Float>.zeros([o.count])
                    for (i, c) in p.inputChunks.enumerated() {
                        let (w, b) = try LinearPrefixLayout.decode(prefixes[n][j * p.inputChunks.count + i], inputWidth: c.count,
                                                                   outputWidth: o.count, config: config)
                        blocks.append(w)
                        bias = try bias + b
                    }
                    rows.append(try TinTGlue.concatenate(blocks))
                    biases.append(bias)
                }
                try out.set(p.linear.weight, try Tensor.concatenated(rows, axis: 0))
                if let b = p.linear.bias { try out.set(b, try Tensor.concatenated(biases, axis: 0)) }
            case .layerNorm(let p):
                let (w, b) = try LinearPrefixLayout.decode(prefixes[n][0], inputWidth: D, outputWidth: D, config: config)
                if let name = p.weight { try out.set(name, try diagonal(w)) }
                if let name = p.bias { try out.set(name, b) }
            case .attention(let p):
                let (w, b) = try LinearPrefixLayout.decode(prefixes[n][2], inputWidth: D, outputWidth: D, config: config)
                try out.set(p.value.weight, w)
                if let name = p.value.bias { try out.set(name, b) }
            default:
                continue
            }
        }
        return out
    }

    /// The diagonal of a square matrix (a layer norm's γ; with `layerNormUpdate: .full` the off-diagonal
    /// entries the update adds are not an aux parameter and are dropped here).
    private func diagonal(_ m: Tensor<Float>) throws -> Tensor<Float> {
        let n = m.shape[0], s = m.contiguous().scalars
        return try Tensor(shape: [n], scalars: (0..<n).map { s[$0 * n + $0] })
    }
}
