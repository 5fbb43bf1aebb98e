import Autodiff
import Tensor

/// `linear` d_in → d_out: cut into blocks of at most D_aux inputs and outputs; block `(j, i)` maps input chunk `i` to
/// output chunk `j` with its own prefix tensor (slot `j·C_in + i`), and output chunk `j` is the sum of its blocks.
/// Backward ∥ Descent per block (Backward alone for a frozen map); the bias lives in block `(j, 0)`, or as `b/C` in
/// every block with `referenceCompatible` (the reference's C·η quirk).
///
/// A chunk whose width is not a multiple of K runs in a module K-rounded up (``TinTCompiler/moduleWidth(_:_:)``): its
/// block is zero padded, its input padded with zero columns and its padded outputs dropped. This is exact — the
/// padded outputs are `0·x + 0`, the padded inputs meet zero columns — and the Descent keeps the padding zero: its
/// update `∇y xᵀ` is zero wherever `∇y` (a padded output) or `x` (a padded input) is.
struct LinearUnit<Scalar: TensorScalar>: AuxOpUnit, CompiledNode {
    let linear: AuxLinear
    let inputChunks: [Range<Int>], outputChunks: [Range<Int>]
    /// Whether Descent runs (a trainable map in a simulated layer).
    let descends: Bool
    let biasInEveryBlock: Bool
    let forwardBlocks: [[LinearForward<Scalar>]]
    let backwardBlocks: [[any TinTModule<Scalar>]]?

    static func compile(_ node: AuxNode, simulated sim: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws -> (any CompiledNode<Scalar>)? {
        guard case .linear(let l, let trainable) = node.op else { return nil }
        let D = spec.auxWidth
        let inputs = TinTCompiler.chunks(l.inputWidth, D), outputs = TinTCompiler.chunks(l.outputWidth, D)
        let descends = sim && trainable
        let every = spec.referenceCompatible && inputs.count > 1 && l.bias != nil
        var forward: [[LinearForward<Scalar>]] = [], backward: [[any TinTModule<Scalar>]] = []
        for o in outputs {
            let K = spec.prefixCount, oWidth = TinTCompiler.moduleWidth(o.count, K)
            forward.append(try inputs.map { try cache.linearForward(inputWidth: TinTCompiler.moduleWidth($0.count, K), outputWidth: oWidth) })
            guard sim else { continue }
            backward.append(try inputs.map { i -> any TinTModule<Scalar> in
                let iWidth = TinTCompiler.moduleWidth(i.count, K)
                return descends ? try cache.linearBackwardDescent(inputWidth: iWidth, outputWidth: oWidth,
                                                                  updateBias: l.bias != nil && (every || i == inputs[0])) as any TinTModule<Scalar>
                    : try cache.linearBackward(inputWidth: iWidth, outputWidth: oWidth)
            })
        }
        return LinearUnit(linear: l, inputChunks: inputs, outputChunks: outputs, descends: descends, biasInEveryBlock: every,
                          forwardBlocks: forward, backwardBlocks: sim ? backward : nil)
    }

    func encode(_ parameters: AuxParameterReader<Scalar>, spec: SimulatorSpec) throws -> [Tensor<Scalar>] {
        let (w, b) = try parameters.linear(linear)
        let scale = biasInEveryBlock ? 1 / Scalar(inputChunks.count) : 1
        var slots: [Tensor<Scalar>] = []
        for o in outputChunks {
            for (i, c) in inputChunks.enumerated() {
                slots.append(try TinTGlue.linearPrefixes(weight: w, bias: biasInEveryBlock || i == 0 ? b : nil, outputs: o,
                                                         inputs: c, biasScale: scale, config: spec))
            }
        }
        return slots
    }

    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar> {
        var outputs: [Tensor<Scalar>] = []
        for (j, o) in outputChunks.enumerated() {
            var partial: [Tensor<Scalar>] = []
            for (i, chunk) in inputChunks.enumerated() {
                let module = forwardBlocks[j][i]
                // Fresh rows are zero beyond the chunk: a K-rounded module's padded inputs are already zero.
                partial.append(try c.run(try TinTGlue.columns(inputs[0], chunk), prefixes: c.prefixes[j * inputChunks.count + i],
                                         width: o.count) { try module.apply(&$0) })
            }
            outputs.append(try TinTGlue.sum(partial))
        }
        return try TinTGlue.concatenate(outputs)
    }

    func backward(_ c: inout NodeContext<Scalar>, gradient g: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>] {
        let nIn = inputChunks.count
        var inputGradients = [Tensor<Scalar>?](repeating: nil, count: nIn)
        for (j, o) in outputChunks.enumerated() {
            let gj = try TinTGlue.columns(g, o)
            for (i, chunk) in inputChunks.enumerated() {
                let slot = j * nIn + i, module = backwardBlocks![j][i]
                let state = try c.restore(slot, gradient: gj, prefixes: c.prefixes[slot]) { try module.apply(&$0) }
                if descends { c.prefixes[slot] = state.prefixes }
                let gi = try TinTGlue.signal(state, width: chunk.count)
                inputGradients[i] = try inputGradients[i].map { try $0 + gi } ?? gi
            }
        }
        return [try TinTGlue.concatenate(inputGradients.map { $0! })]
    }

    func readBack(_ prefixes: [Tensor<Scalar>], into out: inout ParameterSet<Scalar>, spec: SimulatorSpec) throws {
        guard descends else { return }
        var rows: [Tensor<Scalar>] = [], biases: [Tensor<Scalar>] = []
        for (j, o) in outputChunks.enumerated() {
            var blocks: [Tensor<Scalar>] = []
            var bias = try Tensor<Scalar>.zeros([o.count])
            for (i, chunk) in inputChunks.enumerated() {
                let K = spec.prefixCount
                let (w, b) = try LinearPrefixLayout.decode(prefixes[j * inputChunks.count + i],
                                                           inputWidth: TinTCompiler.moduleWidth(chunk.count, K),
                                                           outputWidth: TinTCompiler.moduleWidth(o.count, K), config: spec)
                blocks.append(try w.sliced(axis: 0, 0..<o.count).sliced(axis: 1, 0..<chunk.count).contiguous())
                bias = try bias + b.sliced(axis: 0, 0..<o.count).contiguous()
            }
            rows.append(try TinTGlue.concatenate(blocks))
            biases.append(bias)
        }
        try out.set(linear.weight, try linear.storing(weight: try Tensor.concatenated(rows, axis: 0), into: out[linear.weight]!))
        if let b = linear.bias { try out.set(b, try linear.storing(bias: try Tensor.concatenated(biases, axis: 0), into: out[b]!)) }
    }

    var forwardModules: [(kind: String, count: ParameterCount)] {
        forwardBlocks.flatMap { $0.map { ("LinearForward", $0.parameterCount) } }
    }
    var backwardModules: [(kind: String, count: ParameterCount)] {
        (backwardBlocks ?? []).flatMap { $0.map { ($0.kind, $0.parameterCount) } }
    }
}

extension LinearUnit {
    static func charges(_ node: AuxNode, simulated sim: Bool, formula f: ModuleFormula) throws -> (forward: [Charge], backward: [Charge])? {
        guard case .linear(let l, let trainable) = node.op else { return nil }
        let config = f.config, D = config.auxWidth, K = config.prefixCount
        let inputs = TinTCompiler.chunks(l.inputWidth, D), outputs = TinTCompiler.chunks(l.outputWidth, D)
        // At most two input × two output block widths; each is checked as the module's initializer checks it.
        for i in Set(inputs.map { TinTCompiler.moduleWidth($0.count, K) }) {
            for o in Set(outputs.map { TinTCompiler.moduleWidth($0.count, K) }) { try config.validateMap(inputWidth: i, outputWidth: o) }
        }
        let blocks = try checkedProduct(inputs.count, outputs.count)
        var backward: [Charge] = []
        if sim && trainable {
            let every = config.referenceCompatible && inputs.count > 1 && l.bias != nil
            let biasBlocks = l.bias == nil ? 0 : every ? blocks : outputs.count
            backward = [Charge(kind: "LinearBackwardDescent", count: f.linearBackwardDescentBias, times: biasBlocks),
                        Charge(kind: "LinearBackwardDescent", count: f.linearBackwardDescentNoBias, times: blocks - biasBlocks)]
        } else if sim {
            backward = [Charge(kind: "LinearBackward", count: f.linearBackward, times: blocks)]
        }
        return ([Charge(kind: "LinearForward", count: f.linearForward, times: blocks)], backward)
    }

    /// A trainable map's W and b move; a frozen map's (OPT's `project_in`/`project_out`) stay.
    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse]? {
        guard case .linear(let l, let trainable) = op else { return nil }
        return l.parameterUses(trainable ? .moves : .frozen)
    }

    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T>? {
        guard case .linear(let l, _) = op else { return nil }
        return try l.apply(inputs[0], parameters)
    }
}
