import Autodiff
import Tensor

/// Runs a compiled TinT on token sequences (TINT-DESIGN §2): Forward through every aux node, the loss gradient
/// of the summed cross-entropy over train targets, Backward ∥ Descent through the simulated nodes from the top
/// down, and Forward again through them with the updated prefixes — `steps` times. Every data movement outside
/// the simulator modules is in ``TinTGlue``. It computes in its program's `Scalar`: `Float`, or `Double` for the
/// end-to-end oracle (with exact backward rules and hard gates TinT then equals approximate GD up to rounding).
public struct TinTExecutor<Scalar: TensorScalar>: Sendable {
    /// The compiled program.
    public let program: TinTProgram<Scalar>
    /// The aux parameters the prefixes were encoded from (the base of the read-back weights).
    public let parameters: ParameterSet<Scalar>
    /// Per node, its prefix tensors: linear block `(j, i)` at `j·C_in + i`; attention Q, K, V; one for a norm.
    let initialPrefixes: [[StoredPrefix<Scalar>]]
    /// How runs keep the prefix tensors between modules.
    public let prefixStorage: PrefixStorage
    /// Bytes of the encoded prefix tensors as kept (``PrefixStorage``).
    public var prefixBytes: Int { initialPrefixes.joined().reduce(0) { $0 + $1.bytes } }
    let tables: [String: Tensor<Scalar>]
    let zeroPrefixes: Tensor<Scalar>

    /// Encodes the aux weights into prefix tensors, kept as `prefixStorage` says (``PrefixStorage``).
    ///
    /// - Throws: `TinTError.invalidArgument` naming a parameter the graph needs that `parameters` lacks, or
    ///   one with the wrong shape.
    public init(program: TinTProgram<Scalar>, parameters: ParameterSet<Scalar>, prefixStorage: PrefixStorage = .native) throws {
        self.program = program
        self.parameters = parameters
        self.prefixStorage = prefixStorage
        let config = program.spec
        let reader = AuxParameterReader(parameters: parameters)
        // Node by node, so a half-precision storage never holds every prefix in Scalar at once.
        initialPrefixes = try program.plans.map { plan in
            try plan.encode(reader, spec: config).map { StoredPrefix($0, storage: prefixStorage) }
        }
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor<Scalar> { try reader.tensor(name, shape) }
        var tables: [String: Tensor<Scalar>] = [:]
        for (name, shape) in program.graph.tableShapes { tables[name] = try tensor(name, shape).contiguous() }
        if tables[program.graph.headWeight] == nil {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the graph has no table for its head '\(program.graph.headWeight)'")
        }
        self.tables = tables
        zeroPrefixes = try Tensor<Scalar>.zeros([config.prefixCount, config.simWidth])
    }

    /// One TinT forward pass over `ids` with `trainMask` marking the train part (Docs/TINT.md §8): the logits of
    /// the unmodified aux model as simulated, and the logits after `config.steps` internal SGD steps.
    /// `readBack` also decodes the updated aux weights out of the prefixes.
    ///
    /// - Throws: `TinTError.invalidArgument` for an empty sequence, an id outside the vocabulary or a mask of
    ///   another length; `TinTError.ruleViolation` (`sequenceLength`) for a sequence longer than T_aux;
    ///   `TinTError.nonFiniteValue` when the logits before or after a step hold a NaN or an infinity.
    public func run(ids: [Int], trainMask: [Bool], readBack: Bool = false) throws -> DescentOutcome<Scalar> {
        try run(ids: ids, trainMask: trainMask, countsTarget: { $0 < trainMask.count && trainMask[$0] }, readBack: readBack)
    }

    /// ``run(ids:trainMask:readBack:)`` with the inner loss over any targets of the train part: token `i` counts as
    /// the target of position `i − 1` when `countsTarget(i)` (and `i` is a train token) — e.g. only the label words of
    /// in-context demonstrations. Every train token still takes part in the Descent's sums (its gradient comes
    /// through attention from the counted positions).
    ///
    /// `segmentStarts` lays independent sequences side by side (in-context learning's `single-ft`):
    /// `segmentStarts[t]` is the first token of token `t`'s sequence; each sequence attends only to itself, its
    /// positions restart at 0, and no target crosses into the next sequence — the same as separate forwards, whose
    /// train parts' gradients are summed in one Descent.
    ///
    /// `flops`, when given, counts the products the run executes (``TinTFlopCounter``).
    ///
    /// - Throws: also `TinTError.invalidArgument` when `segmentStarts` does not describe consecutive sequences.
    // Specialized so the Float path stays concrete when called from another module (the CLI, Bench).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func run(ids: [Int], trainMask: [Bool], countsTarget: (Int) -> Bool, segmentStarts: [Int]? = nil,
                    readBack: Bool = false, flops: TinTFlopCounter? = nil) throws -> DescentOutcome<Scalar> {
        let config = program.spec, graph = program.graph
        let head = tables[graph.headWeight]!
        guard !ids.isEmpty else { throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the sequence is empty") }
        guard trainMask.count == ids.count else {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the train mask has \(trainMask.count) entries for \(ids.count) tokens")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= head.shape[0] }) {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "token id \(bad) is outside the vocabulary 0..<\(head.shape[0])")
        }
        try config.validateSequence(ids.count)
        if let starts = segmentStarts {
            let consecutive = starts.count == ids.count && starts.indices.allSatisfy { t in
                t == 0 ? starts[0] == 0 : starts[t] == starts[t - 1] || starts[t] == t
            }
            guard consecutive else {
                throw TinTError.invalidArgument(module: "TinTExecutor", reason: "segmentStarts must give, for each of the "
                                                + "\(ids.count) tokens, the first token of its run of consecutive tokens")
            }
        }
        let sameSegment: (Int) -> Bool = { i in segmentStarts.map { $0[i] != i } ?? true }

        // Every layer frees token-row tensors of a handful of sizes that the next layer allocates again: recycle
        // them for the run (TensorBufferPool) rather than unmap and page-fault them back in.
        return try Tensor<Scalar>.reusingBuffers {
            var run = Run(executor: self, ids: ids, trainMask: trainMask, segmentStarts: segmentStarts, flopCounter: flops)
            let headFlops = 2 * ids.count * head.shape[0] * head.shape[1]  // one logits or loss-gradient product
            for n in graph.nodes.indices { try run.forward(n) }
            let before = try TinTGlue.logits(run.values[graph.output]!, head: head)
            flops?.addGlue(headFlops)
            try requireFinite(before, module: "TinT", step: 0, tensor: "logits")
            var after = before
            for step in 1...max(config.steps, 1) where step <= config.steps {
                let gradient = try TinTGlue.lossGradient(logits: after, head: head, ids: ids, trainMask: trainMask,
                                                         countsTarget: { sameSegment($0) && countsTarget($0) },
                                                         lastPositionUnmasked: config.referenceCompatible)
                flops?.addGlue(headFlops)
                try run.backward(from: gradient)
                for n in graph.nodes.indices where program.simulated[n] { try run.forward(n) }
                after = try TinTGlue.logits(run.values[graph.output]!, head: head)
                flops?.addGlue(headFlops)
                try requireFinite(after, module: "TinT", step: step, tensor: "logits")
            }
            return DescentOutcome(logitsBefore: before, logitsAfter: after, parameters: readBack ? try run.readBack() : nil)
        }
    }
}

/// The state of one run: node values, stored post-Forward token rows, and the current prefixes.
private struct Run<Scalar: TensorScalar> {
    let executor: TinTExecutor<Scalar>
    let ids: [Int], trainMask: [Bool], segmentStarts: [Int]?
    let flopCounter: TinTFlopCounter?
    var prefixes: [[StoredPrefix<Scalar>]]
    var values: [Tensor<Scalar>?]
    var stored: [[Tensor<Scalar>]]

    init(executor: TinTExecutor<Scalar>, ids: [Int], trainMask: [Bool], segmentStarts: [Int]?, flopCounter: TinTFlopCounter?) {
        self.executor = executor
        self.flopCounter = flopCounter
        self.ids = ids
        self.trainMask = trainMask
        self.segmentStarts = segmentStarts
        prefixes = executor.initialPrefixes
        values = Array(repeating: nil, count: executor.program.plans.count)
        stored = Array(repeating: [], count: executor.program.plans.count)
    }

    var program: TinTProgram<Scalar> { executor.program }
    var D: Int { program.spec.auxWidth }

    /// The context node `n` runs in, with its current prefixes and stored rows.
    private func context(_ n: Int) -> NodeContext<Scalar> {
        NodeContext(ids: ids, trainMask: trainMask, segmentStarts: segmentStarts, spec: program.spec, tables: executor.tables, zeroPrefixes: executor.zeroPrefixes,
                    flopCounter: flopCounter, keep: program.simulated[n], prefixes: prefixes[n].map(\.tensor), stored: stored[n])
    }

    /// Runs node `n`'s Forward modules; stores their post-Forward rows when the node is simulated backward.
    mutating func forward(_ n: Int) throws {
        let inputs = program.graph.nodes[n].inputs.map { values[$0]! }
        var c = context(n)
        c.stored = []
        values[n] = try program.plans[n].forward(&c, inputs: inputs)
        if c.keep { stored[n] = c.stored }
    }

    /// Backward ∥ Descent from the output node down through the simulated nodes; gradients reaching a node that
    /// is not simulated are dropped.
    mutating func backward(from outputGradient: Tensor<Scalar>) throws {
        let nodes = program.graph.nodes
        var gradients = [Tensor<Scalar>?](repeating: nil, count: nodes.count)
        gradients[program.graph.output] = outputGradient
        for n in nodes.indices.reversed() where program.simulated[n] {
            guard let g = gradients[n] else { continue }
            var c = context(n)
            stored[n] = []  // the Backward consumes the stored rows (NodeContext.restore); the next Forward stores anew
            let inputGradients = try program.plans[n].backward(&c, gradient: g, inputCount: nodes[n].inputs.count)
            prefixes[n] = c.prefixes.map { StoredPrefix($0, storage: executor.prefixStorage) }
            for (input, gi) in zip(nodes[n].inputs, inputGradients) where program.simulated[input] {
                gradients[input] = try gradients[input].map { try $0 + gi } ?? gi
            }
        }
    }

    /// The aux parameters with the simulated nodes' weights decoded from the current prefixes, under the checkpoint's
    /// names and layouts.
    func readBack() throws -> ParameterSet<Scalar> {
        var out = executor.parameters
        for (n, plan) in program.plans.enumerated() where program.simulated[n] {
            try plan.readBack(prefixes[n].map(\.tensor), into: &out, spec: program.spec)
        }
        return out
    }
}
