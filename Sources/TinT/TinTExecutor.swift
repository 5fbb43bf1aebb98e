import Autodiff
import Synchronization
import Tensor

/// The buffers an executor's runs free, kept for its next run (``TensorWorkspace``).
final class RunWorkspace: Sendable {
    let buffers = TensorWorkspace()
    private let tokens = Atomic<Int>(0)

    /// The workspace for a run of `count` tokens, emptied first when the last run had another length: its row
    /// sizes would not be reused, and holding them would add to the new run's peak memory.
    func prepared(forTokens count: Int) -> TensorWorkspace {
        if tokens.exchange(count, ordering: .relaxed) != count { buffers.removeAll() }
        return buffers
    }
}

/// Runs a compiled TinT on token sequences (TINT-DESIGN §2): Forward through every aux node, the loss gradient
/// of the summed cross-entropy over train targets, Backward ∥ Descent through the simulated nodes from the top
/// down, and Forward again through them with the updated prefixes — `steps` times. Every data movement outside
/// the simulator modules is in ``TinTGlue``. It computes in its program's `Scalar`: `Float`, or `Double` for the
/// end-to-end oracle (with exact backward rules and hard gates TinT then equals approximate GD up to rounding).
public struct TinTExecutor<Scalar: TensorScalar>: Sendable {
    /// The compiled program.
    public let program: TinTProgram<Scalar>
    /// The aux parameters this executor holds: all of them for a single-process executor; a pipeline stage keeps
    /// only those its nodes and tables read and those it owns in a read-back (the base of the read-back weights).
    /// Empty when made without a read-back base (``keepsReadBackBase``).
    public let parameters: ParameterSet<Scalar>
    /// Whether runs can read the updated weights back (`readBack: true`). Without the base the executor holds only the
    /// prefixes and the tables (embeddings, head) its runs read: the simulated nodes' aux weights exist once, encoded.
    public let keepsReadBackBase: Bool
    /// How the graph is split into pipeline stages (one stage for a single-process executor).
    public let partition: TinTPartition
    /// The stage this executor runs: its nodes' prefixes are encoded, every other node's are empty.
    public let stage: Int
    /// Per node, its prefix tensors: linear block `(j, i)` at `j·C_in + i`; attention Q, K, V; one for a norm.
    /// Emptied only by ``consumingRun(ids:trainMask:countsTarget:segmentStarts:readBack:flops:)``, which takes them.
    private(set) var initialPrefixes: [[StoredPrefix<Scalar>]]
    /// How runs keep the prefix tensors between modules.
    public let prefixStorage: PrefixStorage
    /// Bytes of the encoded prefix tensors as kept (``PrefixStorage``).
    public var prefixBytes: Int { initialPrefixes.joined().reduce(0) { $0 + $1.bytes } }
    let tables: [String: Tensor<Scalar>]
    let zeroPrefixes: Tensor<Scalar>
    /// The token-row buffers runs free, kept for the next run (``RunWorkspace``); copies of an executor share it.
    let workspace = RunWorkspace()

    /// Bytes of freed run buffers this executor keeps for its next run: about the most a run of the last length had
    /// live, so a second run of that length page-faults in no fresh memory.
    public var retainedBufferBytes: Int { workspace.buffers.retainedBytes }

    /// Frees the buffers kept for the next run (``retainedBufferBytes``); the next run allocates afresh.
    public func releaseRetainedBuffers() { workspace.buffers.removeAll() }

    /// Encodes the aux weights into prefix tensors, kept as `prefixStorage` says (``PrefixStorage``).
    ///
    /// - Throws: `TinTError.invalidArgument` naming a parameter the graph needs that `parameters` lacks, or
    ///   one with the wrong shape.
    public init(program: TinTProgram<Scalar>, parameters: ParameterSet<Scalar>, prefixStorage: PrefixStorage = .native) throws {
        try self.init(program: program, parameters: parameters, prefixStorage: prefixStorage,
                      partition: try TinTPartition.single(program.graph), stage: 0)
    }

    /// Stage `stage` of `partition`: encodes only the prefixes of the stage's nodes and keeps only the parameters
    /// and tables the stage reads or owns, so a rank holds its slice of the weights (Docs/DISTRIBUTED.md). Run it
    /// with ``runStage(ids:trainMask:countsTarget:segmentStarts:readBack:flops:transport:)``.
    ///
    /// With `readBackBase` false the executor keeps no parameters beyond the tables its runs read (a run asked to read
    /// back then throws): for a caller that only wants logits (dynamic evaluation) and hands over its only reference
    /// to `parameters`, the encoded prefixes are then the only copy of the simulated weights.
    ///
    /// - Throws: `PipelineError.invalidPartition` when `stage` is not one of the partition's or the partition
    ///   covers another number of nodes; otherwise what ``init(program:parameters:prefixStorage:)`` throws.
    public init(program: TinTProgram<Scalar>, parameters: ParameterSet<Scalar>, prefixStorage: PrefixStorage = .native,
                partition: TinTPartition, stage: Int, readBackBase: Bool = true) throws {
        let graph = program.graph
        guard partition.nodes.indices.contains(stage), partition.nodes.last?.upperBound == graph.nodes.count else {
            throw PipelineError.invalidPartition(reason: "stage \(stage) of a \(partition.count)-stage partition of "
                                                 + "\(partition.nodes.last?.upperBound ?? 0) nodes, for a graph of \(graph.nodes.count) nodes")
        }
        let nodes = partition.nodes[stage], isLast = stage == partition.count - 1
        let kept = partition.parameterNames(stage: stage, graph: graph)
        self.program = program
        self.partition = partition
        self.stage = stage
        // A stage keeps only its names (a single stage keeps everything, unread names too: the read-back's base).
        self.parameters = !readBackBase ? ParameterSet()
            : partition.count == 1 ? parameters : parameters.filter { kept.contains($0) || partition.owner(of: $0) == stage }
        keepsReadBackBase = readBackBase
        self.prefixStorage = prefixStorage
        let config = program.spec
        let reader = AuxParameterReader(parameters: parameters)
        // Node by node, so a half-precision storage never holds every prefix in Scalar at once.
        initialPrefixes = try program.plans.indices.map { n in
            guard nodes.contains(n) else { return [] }
            return try program.plans[n].encode(reader, spec: config).map { StoredPrefix($0, storage: prefixStorage) }
        }
        var tables: [String: Tensor<Scalar>] = [:]
        for (name, shape) in graph.tableShapes where kept.contains(name) { tables[name] = try reader.tensor(name, shape).contiguous() }
        if isLast && tables[graph.headWeight] == nil {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the graph has no table for its head '\(graph.headWeight)'")
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
    /// - Throws: also `TinTError.invalidArgument` when `segmentStarts` does not describe consecutive sequences, or
    ///   when this executor is one stage of several (run it with ``runStage(ids:trainMask:countsTarget:segmentStarts:readBack:flops:transport:)``).
    public func run(ids: [Int], trainMask: [Bool], countsTarget: (Int) -> Bool, segmentStarts: [Int]? = nil,
                    readBack: Bool = false, flops: TinTFlopCounter? = nil) throws -> DescentOutcome<Scalar> {
        var shared: [[StoredPrefix<Scalar>]]? = nil
        return try runSingleStage(ids: ids, trainMask: trainMask, countsTarget: countsTarget, segmentStarts: segmentStarts,
                                  readBack: readBack, flops: flops, taking: &shared)
    }

    /// ``run(ids:trainMask:countsTarget:segmentStarts:readBack:flops:)`` as the executor's last use: the run takes the
    /// executor's prefixes instead of sharing them, so each node's encoded prefixes are freed when its Descent replaces
    /// them. A run of a kept executor holds the executor's prefixes beside its updated ones: one prefix set more at
    /// its peak (6.9 GiB for OPT-2.7B with half-precision prefixes, Docs/BENCHMARKS.md "Scale"). The outcome is the
    /// same, bit for bit. Copies of the executor made before the call keep their prefixes (then nothing is saved).
    ///
    /// - Throws: what ``run(ids:trainMask:countsTarget:segmentStarts:readBack:flops:)`` throws.
    public consuming func consumingRun(ids: [Int], trainMask: [Bool], countsTarget: (Int) -> Bool, segmentStarts: [Int]? = nil,
                                       readBack: Bool = false, flops: TinTFlopCounter? = nil) throws -> DescentOutcome<Scalar> {
        var taken: [[StoredPrefix<Scalar>]]? = initialPrefixes
        initialPrefixes = []  // the run holds the only reference: it frees each node's prefixes as it replaces them
        return try runSingleStage(ids: ids, trainMask: trainMask, countsTarget: countsTarget, segmentStarts: segmentStarts,
                                  readBack: readBack, flops: flops, taking: &taken)
    }

    private func runSingleStage(ids: [Int], trainMask: [Bool], countsTarget: (Int) -> Bool, segmentStarts: [Int]?,
                                readBack: Bool, flops: TinTFlopCounter?,
                                taking prefixes: inout [[StoredPrefix<Scalar>]]?) throws -> DescentOutcome<Scalar> {
        guard partition.count == 1 else {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "stage \(stage) of \(partition.count) needs a "
                                            + "transport to its neighbours: call runStage")
        }
        return try runStage(ids: ids, trainMask: trainMask, countsTarget: countsTarget, segmentStarts: segmentStarts,
                            readBack: readBack, flops: flops, transport: nil, taking: &prefixes)!
    }

    /// This executor's stage of a pipelined run (Docs/DISTRIBUTED.md): the same schedule as
    /// ``run(ids:trainMask:countsTarget:segmentStarts:readBack:flops:)`` — Forward, then per step Backward ∥ Descent
    /// and Forward of the simulated nodes — over the stage's nodes only, receiving the values that cross into it
    /// from the stage below and its gradients from the stage above through `transport`. The last stage runs the
    /// glue (logits, loss gradient) and returns the outcome, with the whole read-back (every stage sends it its
    /// part) when `readBack`; every other stage returns nil. Every stage must be called with the same arguments.
    /// A single-stage executor takes no transport.
    ///
    /// - Throws: what `run` throws (on the stage that finds it); `PipelineError` when the transport fails, a
    ///   neighbour fails or sends a message the schedule does not expect. A throwing stage tells the others
    ///   (``PipelineTransport/fail(_:)``) before it throws.
    public func runStage(ids: [Int], trainMask: [Bool], countsTarget: (Int) -> Bool, segmentStarts: [Int]? = nil,
                         readBack: Bool = false, flops: TinTFlopCounter? = nil,
                         transport: (any PipelineTransport)?) throws -> DescentOutcome<Scalar>? {
        var shared: [[StoredPrefix<Scalar>]]? = nil
        return try runStage(ids: ids, trainMask: trainMask, countsTarget: countsTarget, segmentStarts: segmentStarts,
                            readBack: readBack, flops: flops, transport: transport, taking: &shared)
    }

    /// ``runStage(ids:trainMask:countsTarget:segmentStarts:readBack:flops:transport:)`` starting from `prefixes` when
    /// given (taken: the run holds the only reference), else from the executor's. Every run enters here.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func runStage(ids: [Int], trainMask: [Bool], countsTarget: (Int) -> Bool, segmentStarts: [Int]?,
                          readBack: Bool, flops: TinTFlopCounter?, transport: (any PipelineTransport)?,
                          taking prefixes: inout [[StoredPrefix<Scalar>]]?) throws -> DescentOutcome<Scalar>? {
        if readBack && !keepsReadBackBase {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "readBack needs the weights as base: this executor "
                                            + "was made with readBackBase: false")
        }
        if partition.count > 1 {
            guard let transport, transport.stage == stage, transport.stageCount == partition.count else {
                throw PipelineError.invalidPartition(reason: "stage \(stage) of \(partition.count) needs a transport for that stage, got "
                                                     + (transport.map { "stage \($0.stage) of \($0.stageCount)" } ?? "none"))
            }
        }
        do {
            return try execute(ids: ids, trainMask: trainMask, countsTarget: countsTarget, segmentStarts: segmentStarts,
                               readBack: readBack, flops: flops, link: partition.count > 1 ? transport : nil, taking: &prefixes)
        } catch {
            // The other stages may be waiting for this one: tell them (a peer's own failure needs no echo).
            if let transport, partition.count > 1 {
                if case PipelineError.peerFailed = error {} else { transport.fail("\(error)") }
            }
            throw error
        }
    }

    private func execute(ids: [Int], trainMask: [Bool], countsTarget: (Int) -> Bool, segmentStarts: [Int]?,
                         readBack: Bool, flops: TinTFlopCounter?, link: (any PipelineTransport)?,
                         taking prefixes: inout [[StoredPrefix<Scalar>]]?) throws -> DescentOutcome<Scalar>? {
        let config = program.spec, graph = program.graph
        // Every stage checks the inputs (all receive the same), so all fail alike before any message.
        let vocabulary = graph.tableShapes[graph.headWeight]?.first ?? 0
        guard !ids.isEmpty else { throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the sequence is empty") }
        guard trainMask.count == ids.count else {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the train mask has \(trainMask.count) entries for \(ids.count) tokens")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "token id \(bad) is outside the vocabulary 0..<\(vocabulary)")
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
        let isLast = stage == partition.count - 1

        // Every layer frees token-row tensors of a handful of sizes that the next layer allocates again: recycle
        // them (TensorWorkspace), within the run and into the next one, rather than unmap them and page-fault fresh
        // zeroed pages back in (the kernel's page clearing was 7% of a timed `Bench tint` forward with a pool per run).
        return try Tensor<Scalar>.reusingBuffers(in: workspace.prepared(forTokens: ids.count)) {
            var run = Run(executor: self, ids: ids, trainMask: trainMask, segmentStarts: segmentStarts, flopCounter: flops, link: link,
                          prefixes: prefixes.take() ?? initialPrefixes)
            try run.forwardPass(0)
            guard isLast else {
                for step in 1...max(config.steps, 1) where step <= config.steps {
                    try run.backwardPass(step, from: nil)
                    try run.forwardPass(step)
                }
                if readBack { try run.sendReadBack() }
                return nil
            }
            let head = tables[graph.headWeight]!
            let headFlops = 2 * ids.count * head.shape[0] * head.shape[1]  // one logits or loss-gradient product
            let before = try TinTGlue.logits(run.values[graph.output]!, head: head)
            flops?.addGlue(headFlops)
            try requireFinite(before, module: "TinT", step: 0, tensor: "logits")
            var after = before
            for step in 1...max(config.steps, 1) where step <= config.steps {
                let gradient = try TinTGlue.lossGradient(logits: after, head: head, ids: ids, trainMask: trainMask,
                                                         countsTarget: { sameSegment($0) && countsTarget($0) },
                                                         lastPositionUnmasked: config.referenceCompatible)
                flops?.addGlue(headFlops)
                try run.backwardPass(step, from: gradient)
                try run.forwardPass(step)
                after = try TinTGlue.logits(run.values[graph.output]!, head: head)
                flops?.addGlue(headFlops)
                try requireFinite(after, module: "TinT", step: step, tensor: "logits")
            }
            return DescentOutcome(logitsBefore: before, logitsAfter: after, parameters: readBack ? try run.gatherReadBack() : nil)
        }
    }
}

/// The state of one run of one stage: node values, stored post-Forward token rows, and the current prefixes (of
/// the stage's nodes; a single-process run is the one stage holding every node).
private struct Run<Scalar: TensorScalar> {
    let executor: TinTExecutor<Scalar>
    let ids: [Int], trainMask: [Bool], segmentStarts: [Int]?
    let flopCounter: TinTFlopCounter?
    /// The neighbours, or nil for a single stage.
    let link: (any PipelineTransport)?
    var prefixes: [[StoredPrefix<Scalar>]]
    var values: [Tensor<Scalar>?]
    var stored: [[Tensor<Scalar>]]

    init(executor: TinTExecutor<Scalar>, ids: [Int], trainMask: [Bool], segmentStarts: [Int]?, flopCounter: TinTFlopCounter?,
         link: (any PipelineTransport)?, prefixes: consuming [[StoredPrefix<Scalar>]]) {
        self.executor = executor
        self.flopCounter = flopCounter
        self.link = link
        self.ids = ids
        self.trainMask = trainMask
        self.segmentStarts = segmentStarts
        self.prefixes = prefixes
        values = Array(repeating: nil, count: executor.program.plans.count)
        stored = Array(repeating: [], count: executor.program.plans.count)
    }

    var program: TinTProgram<Scalar> { executor.program }
    var partition: TinTPartition { executor.partition }
    var stage: Int { executor.stage }
    var nodes: Range<Int> { partition.nodes[stage] }
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

    /// The values crossing into stage `s` in forward pass `pass`: the whole boundary first, then only its simulated
    /// nodes (the others are never recomputed, so the receiver keeps their first values). Both ends compute it.
    func forwardBoundary(_ s: Int, pass: Int) -> [Int] {
        partition.boundary(s).filter { pass == 0 || program.simulated[$0] }
    }

    /// The gradients crossing down out of stage `s`: those of its boundary's simulated nodes (a gradient reaching a
    /// node that is not simulated is dropped, as in one process).
    func backwardBoundary(_ s: Int) -> [Int] { partition.boundary(s).filter { program.simulated[$0] } }

    /// Forward pass `pass` (0: every node; after a step: the simulated ones) over the stage's nodes: receives the
    /// values crossing in from below, runs, sends the values crossing out above.
    mutating func forwardPass(_ pass: Int) throws {
        if let link, stage > 0, case let incoming = forwardBoundary(stage, pass: pass), !incoming.isEmpty {
            let m = try receive(.forward, step: pass, from: stage - 1, link)
            for (i, (_, t)) in zip(incoming, m.entries) { values[i] = t }
        }
        for n in nodes where pass == 0 || program.simulated[n] { try forward(n) }
        if let link, stage + 1 < partition.count, case let outgoing = forwardBoundary(stage + 1, pass: pass), !outgoing.isEmpty {
            try send(PipelineMessage(kind: .forward, step: pass, entries: outgoing.map { ("", values[$0]!) }), to: stage + 1, link)
        }
    }

    /// Backward ∥ Descent of step `step` from the top down through the stage's simulated nodes: starts from the
    /// output gradient (the last stage) or the gradients received from the stage above, and sends the gradients
    /// reaching below the stage down. Gradients reaching a node that is not simulated are dropped.
    mutating func backwardPass(_ step: Int, from outputGradient: Tensor<Scalar>?) throws {
        let graphNodes = program.graph.nodes
        var gradients = [Tensor<Scalar>?](repeating: nil, count: graphNodes.count)
        if let outputGradient { gradients[program.graph.output] = outputGradient }
        if let link, stage + 1 < partition.count, case let incoming = backwardBoundary(stage + 1), !incoming.isEmpty {
            let m = try receive(.backward, step: step, from: stage + 1, link)
            for (i, (_, g)) in zip(incoming, m.entries) { gradients[i] = g }
        }
        for n in nodes.reversed() where program.simulated[n] {
            guard let g = gradients[n] else { continue }
            var c = context(n)
            stored[n] = []  // the Backward consumes the stored rows (NodeContext.restore); the next Forward stores anew
            let inputGradients = try program.plans[n].backward(&c, gradient: g, inputCount: graphNodes[n].inputs.count)
            prefixes[n] = c.prefixes.map { StoredPrefix($0, storage: executor.prefixStorage) }
            for (input, gi) in zip(graphNodes[n].inputs, inputGradients) where program.simulated[input] {
                gradients[input] = try gradients[input].map { try $0 + gi } ?? gi
            }
        }
        if let link, stage > 0, case let outgoing = backwardBoundary(stage), !outgoing.isEmpty {
            try send(PipelineMessage(kind: .backward, step: step, entries: outgoing.map { ("", gradients[$0]) }), to: stage - 1, link)
        }
    }

    /// The parameters this stage owns (``TinTPartition``), the simulated nodes' weights decoded from the current
    /// prefixes, under the checkpoint's names and layouts: for a single stage, every aux parameter.
    func readBack() throws -> ParameterSet<Scalar> {
        var out = partition.count == 1 ? executor.parameters : executor.parameters.filter { partition.owner(of: $0) == stage }
        for n in nodes where program.simulated[n] {
            try program.plans[n].readBack(prefixes[n].map(\.tensor), into: &out, spec: program.spec)
        }
        return out
    }

    /// Sends this stage's read-back to the last stage.
    func sendReadBack() throws {
        guard let link else { return }
        let entries = try readBack().map { (name: $0.name, tensor: Optional($0.tensor)) }
        try send(PipelineMessage(kind: .readBack, step: 0, entries: entries), to: partition.count - 1, link)
    }

    /// The last stage's whole read-back: every other stage's part (in stage order), then its own.
    func gatherReadBack() throws -> ParameterSet<Scalar> {
        guard let link else { return try readBack() }
        var out = ParameterSet<Scalar>()
        for s in 0..<stage {
            for (name, tensor) in try receive(.readBack, step: 0, from: s, link).entries {
                guard let tensor else { throw PipelineError.transport(stage: stage, reason: "stage \(s) sent no tensor for '\(name)'") }
                try out.insert(name, tensor)
            }
        }
        for (name, tensor) in try readBack() { try out.insert(name, tensor) }
        return out
    }

    private func send(_ m: PipelineMessage<Scalar>, to peer: Int, _ link: any PipelineTransport) throws {
        try link.send(m.encoded(), to: peer)
    }

    private func receive(_ kind: PipelineMessage<Scalar>.Kind, step: Int, from peer: Int, _ link: any PipelineTransport) throws
        -> PipelineMessage<Scalar> {
        let m = try PipelineMessage<Scalar>.decode(try link.receive(from: peer), expecting: kind, step: step, stage: stage, peer: peer)
        let expected = kind == .forward ? forwardBoundary(stage, pass: step).count
            : kind == .backward ? backwardBoundary(stage + 1).count : m.entries.count
        guard m.entries.count == expected else {
            throw PipelineError.protocolMismatch(stage: stage, expected: "\(expected) tensors in \(m.label) from stage \(peer)",
                                                 got: "\(m.entries.count)")
        }
        return m
    }
}
