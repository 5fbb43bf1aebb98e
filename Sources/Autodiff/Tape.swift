import Tensor

// Reverse-mode automatic differentiation in the style of micrograd: every op on a `Variable` that needs a
// gradient records a `Node` holding one pullback closure per differentiable input. The graph is the tape:
// nodes point at their inputs' nodes, so whatever the output can reach is exactly what backward visits.
// There is no global tape, so independent computations on different threads never share state.

/// A tensor value that may record the operations applied to it, so gradients can flow back through them.
///
/// A `Variable` either tracks gradients (it was made with `requiresGradient: true`, or computed from one that
/// was, outside ``noGrad(_:)``) or is a constant. Operations on constants, or any operation inside `noGrad`,
/// record nothing and cost the ``Tensor`` operation plus this small wrapper.
public struct Variable<Scalar: TensorScalar>: Sendable {
    /// The value.
    public let value: Tensor<Scalar>
    /// The graph node when this value tracks gradients; `nil` for a constant.
    let node: Node<Scalar>?

    /// A constant (never receives or passes on a gradient).
    public init(_ value: Tensor<Scalar>) {
        self.value = value
        self.node = nil
    }

    /// A leaf; with `requiresGradient` it tracks gradients (outside ``noGrad(_:)``, always, since a leaf
    /// records no operation).
    public init(_ value: Tensor<Scalar>, requiresGradient: Bool) {
        self.value = value
        self.node = requiresGradient ? Node(depth: 0, edges: []) : nil
    }

    init(value: Tensor<Scalar>, node: Node<Scalar>?) {
        self.value = value
        self.node = node
    }

    /// Whether gradients flow back through this value.
    public var requiresGradient: Bool { node != nil }
    /// The shape of the value.
    public var shape: [Int] { value.shape }
    /// The rank of the value.
    public var rank: Int { value.rank }
    /// The number of elements.
    public var count: Int { value.count }

    /// The same value with no link to the graph: gradients stop here (`stopGradient` in JAX/MLX).
    public func detached() -> Variable { Variable(value) }
}

/// The same value as `x`, with no link to the graph: gradients do not flow through it.
public func stopGradient<Scalar>(_ x: Variable<Scalar>) -> Variable<Scalar> { x.detached() }

/// One recorded operation: the nodes of its differentiable inputs and, for each, the pullback mapping the
/// gradient of the output to the gradient of that input.
final class Node<Scalar: TensorScalar>: @unchecked Sendable {
    typealias Pullback = (Tensor<Scalar>) throws -> Tensor<Scalar>
    /// Adds the input's gradient contribution into an existing gradient in place.
    typealias AddInto = (inout Tensor<Scalar>, Tensor<Scalar>) throws -> Void
    struct Edge {
        let input: Node
        /// The input's shape, checked against what the pullback returns.
        let shape: [Int]
        let pullback: Pullback
        /// For sparse pullbacks (gather, embedding): used instead of `pullback` when the input already has a
        /// gradient, so no dense zero tensor is made just to be added (a tied embedding's [V, D] gradient).
        var addInto: AddInto? = nil
    }

    /// Longer than every input's depth, so decreasing depth is a reverse topological order.
    let depth: Int
    /// Mutated only by a backward pass that releases the graph (a graph is not shared across threads
    /// while it is being differentiated).
    var edges: [Edge]
    /// Set when a backward pass has dropped `edges`; differentiating through the node again is an error.
    var isReleased = false

    init(depth: Int, edges: [Edge]) {
        self.depth = depth
        self.edges = edges
    }
}

// MARK: - Gradient mode

/// Whether operations currently record (task-local, so concurrent tasks and threads each have their own).
enum GradientMode {
    @TaskLocal static var isRecording = true
    /// True while a backward pass that releases the graph runs its pullbacks: each pullback then runs once, so it
    /// may consume what it captured (cross-entropy overwrites its logits with their gradient).
    @TaskLocal static var isReleasingGraph = false
}

/// Runs `body` with recording switched off: operations on variables inside it record nothing, so a
/// forward pass costs only its Tensor operations and keeps no intermediates. Nests; task- and thread-safe.
public func noGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradientMode.$isRecording.withValue(false, operation: body)
}

/// `async` form of ``noGrad(_:)``.
public func noGrad<R>(_ body: () async throws -> R) async rethrows -> R {
    try await GradientMode.$isRecording.withValue(false, operation: body)
}

/// Whether operations on gradient-tracking variables are recorded at this point (false inside ``noGrad(_:)``).
public var isGradientRecordingEnabled: Bool { GradientMode.isRecording }

// MARK: - Recording

extension Variable {
    /// The result of an op with one differentiable input. `pullback` maps the output gradient to `x`'s.
    /// Nothing is recorded (and `pullback` is dropped) unless `x` tracks gradients and recording is on.
    @inline(__always)
    static func record(_ value: Tensor<Scalar>, _ x: Variable,
                       _ pullback: @escaping Node<Scalar>.Pullback) -> Variable {
        guard let n = x.node, GradientMode.isRecording else { return Variable(value) }
        return Variable(value: value, node: Node(depth: n.depth + 1,
                                                 edges: [.init(input: n, shape: x.shape, pullback: pullback)]))
    }

    /// ``record(_:_:_:)`` for a sparse op: `addInto` adds `x`'s gradient contribution into an existing
    /// gradient in place; `pullback` makes it from zeros when `x` has no gradient yet.
    static func record(_ value: Tensor<Scalar>, _ x: Variable, _ pullback: @escaping Node<Scalar>.Pullback,
                       addInto: @escaping Node<Scalar>.AddInto) -> Variable {
        guard let n = x.node, GradientMode.isRecording else { return Variable(value) }
        return Variable(value: value, node: Node(depth: n.depth + 1, edges: [
            .init(input: n, shape: x.shape, pullback: pullback, addInto: addInto),
        ]))
    }

    /// The result of an op with two differentiable inputs, one pullback per input.
    @inline(__always)
    static func record(_ value: Tensor<Scalar>,
                       _ a: Variable, _ pa: @escaping Node<Scalar>.Pullback,
                       _ b: Variable, _ pb: @escaping Node<Scalar>.Pullback) -> Variable {
        if a.node == nil && b.node == nil { return Variable(value) }
        return record(value, [(a, pa), (b, pb)])
    }

    /// The result of an op with any number of differentiable inputs, one pullback per input.
    static func record(_ value: Tensor<Scalar>,
                       _ inputs: [(Variable, Node<Scalar>.Pullback)]) -> Variable {
        guard GradientMode.isRecording else { return Variable(value) }
        var edges: [Node<Scalar>.Edge] = []
        var depth = 0
        for (x, pullback) in inputs {
            guard let n = x.node else { continue }
            edges.append(.init(input: n, shape: x.shape, pullback: pullback))
            depth = Swift.max(depth, n.depth)
        }
        if edges.isEmpty { return Variable(value) }
        return Variable(value: value, node: Node(depth: depth + 1, edges: edges))
    }
}

// MARK: - Backward

extension Variable {
    /// Back-propagates from this value and returns the gradient of each of `inputs` (zeros for an input the
    /// value does not depend on).
    ///
    /// - Parameters:
    ///   - seed: the gradient of the final objective w.r.t. this value. Optional only for a single-element
    ///     value (seed 1); required, with this value's shape, otherwise.
    ///   - retainGraph: keep the recorded pullbacks so backward can run again. By default each node releases
    ///     its pullbacks (and the forward intermediates they hold) as soon as it has been processed.
    /// - Throws: ``AutodiffError`` when this value does not track gradients, an input does not track
    ///   gradients, or the seed is missing or has the wrong shape.
    public func gradients(for inputs: [Variable], seed: Tensor<Scalar>? = nil,
                          retainGraph: Bool = false) throws -> [Tensor<Scalar>] {
        let targets = try inputs.enumerated().map { i, x -> Node<Scalar> in
            guard let n = x.node else { throw AutodiffError.inputNotTracked(index: i) }
            return n
        }
        let grads = try backward(seed: seed, keep: Set(targets.map(ObjectIdentifier.init)), retainGraph: retainGraph)
        return try zip(inputs, targets).map { x, n in
            try grads[ObjectIdentifier(n)] ?? Tensor.zeros(x.shape)
        }
    }

    /// The gradient of this value (a single element, or with `seed`) w.r.t. `input`.
    public func gradient(for input: Variable, seed: Tensor<Scalar>? = nil) throws -> Tensor<Scalar> {
        try gradients(for: [input], seed: seed)[0]
    }

    /// Visits every node reachable from this one in decreasing depth (so each node's gradient is complete
    /// before it is pulled back), pulling gradients back only along edges that lead to a node in `keep`, and
    /// returns the accumulated gradients of the nodes in `keep`. Without `retainGraph` every reachable node is
    /// released, pruned or not.
    func backward(seed: Tensor<Scalar>?, keep: Set<ObjectIdentifier>,
                  retainGraph: Bool) throws -> [ObjectIdentifier: Tensor<Scalar>] {
        guard let root = node else { throw AutodiffError.outputNotTracked }
        let start: Tensor<Scalar>
        if let seed {
            guard seed.shape == shape else { throw AutodiffError.seedShapeMismatch(seed: seed.shape, value: shape) }
            start = seed
        } else {
            guard count == 1 else { throw AutodiffError.nonScalarOutput(shape: shape) }
            start = try Tensor(shape: shape, repeating: 1)
        }

        // Collect the reachable nodes (iteratively: graphs can be deep).
        var order: [Node<Scalar>] = [root]
        var seen: Set<ObjectIdentifier> = [ObjectIdentifier(root)]
        var i = 0
        while i < order.count {
            if order[i].isReleased { throw AutodiffError.graphReleased }
            for e in order[i].edges where seen.insert(ObjectIdentifier(e.input)).inserted { order.append(e.input) }
            i += 1
        }
        order.sort { $0.depth > $1.depth }

        // Prune: only nodes from which a requested input can be reached need a gradient, so edges into any other
        // node (a tracked input nobody asked for, and everything only it depends on) are never pulled back.
        // Inputs are shallower than their users, so one sweep in increasing depth settles every node.
        var needed = Set<ObjectIdentifier>()
        for n in order.reversed() {
            let id = ObjectIdentifier(n)
            if keep.contains(id) || n.edges.contains(where: { needed.contains(ObjectIdentifier($0.input)) }) {
                needed.insert(id)
            }
        }

        var grads: [ObjectIdentifier: Tensor<Scalar>] = [ObjectIdentifier(root): start]
        var kept: [ObjectIdentifier: Tensor<Scalar>] = [:]
        try GradientMode.$isReleasingGraph.withValue(!retainGraph) {
            for n in order {
                let id = ObjectIdentifier(n)
                if let g = grads.removeValue(forKey: id) {
                    if keep.contains(id) { kept[id] = g }
                    for e in n.edges {
                        let k = ObjectIdentifier(e.input)
                        guard needed.contains(k) else { continue }
                        // Moved out of the dictionary with no other binding, so the existing gradient is uniquely
                        // owned and the addition below runs in place instead of copying it (a tied embedding's
                        // [V, D] gradient is 154 MB for OPT).
                        if var acc = grads.removeValue(forKey: k) {
                            if let addInto = e.addInto {
                                try addInto(&acc, g)
                            } else {
                                try accumulate(into: &acc, try pulledBack(e, g))
                            }
                            grads[k] = acc
                        } else {
                            grads[k] = try pulledBack(e, g)
                        }
                    }
                }
                if !retainGraph && !n.edges.isEmpty {
                    n.edges = []
                    n.isReleased = true
                }
            }
        }
        return kept
    }

    /// The edge's pullback of `g`, checked against the input's shape.
    private func pulledBack(_ e: Node<Scalar>.Edge, _ g: Tensor<Scalar>) throws -> Tensor<Scalar> {
        let gi = try e.pullback(g)
        guard gi.shape == e.shape else { throw AutodiffError.internalShapeError(expected: e.shape, got: gi.shape) }
        return gi
    }
}
