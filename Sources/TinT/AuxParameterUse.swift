/// One parameter an aux op reads, with its stored shape, the scalars the op uses, and whether TinT's approximate
/// gradient descent moves it — the update-set rule, stated once per op kind in ``AuxOp/parameterUses(width:)``.
public struct AuxParameterUse: Sendable, Equatable {
    /// When TinT's Descent moves a parameter.
    public enum Descent: Sendable, Equatable {
        /// Moved whenever its node is simulated (trainable maps' W and b, attention's value map, norms' β).
        case moves
        /// Moved only with `layerNormUpdate: .full` (norms' γ).
        case movesWithFullNormUpdate
        /// Frozen (Q/K maps, frozen maps such as OPT's `project_in`/`project_out`, embeddings).
        case frozen
    }

    /// The parameter's checkpoint name.
    public var name: String
    /// Its stored shape (checkpoint layout).
    public var shape: [Int]
    /// The scalars this op uses (a slice of a fused parameter uses part of it).
    public var scalars: Int
    /// The approximate-GD rule for it.
    public var descent: Descent
    /// The stored parameter's output coordinates the op uses (a slice of a fused parameter), or nil for all of it.
    public var region: Range<Int>? = nil
}

extension AuxOp {
    /// The parameters the op reads, and TinT's update-set rule for each (Docs/TINT.md §8), as the op's unit states
    /// it (``AuxOpUnit/parameterUses(_:width:)``): a trainable linear map's W and b move (a gated MLP's gate, up and
    /// down maps are three such maps); attention's value map moves, Q and K are frozen (value-only backprop, with or
    /// without rotary positions and grouped heads); a norm's β moves, its γ only with `.full`; embeddings are frozen
    /// tables of the graph.
    public func parameterUses(width: Int) -> [AuxParameterUse] { AuxOpUnits.parameterUses(self, width: width) }
}

extension AuxLinear {
    /// The map's weight and bias as uses under one update rule.
    func parameterUses(_ descent: AuxParameterUse.Descent) -> [AuxParameterUse] {
        [AuxParameterUse(name: weight, shape: weightShape, scalars: inputWidth * outputWidth, descent: descent, region: outputSlice)]
            + (bias.map { [AuxParameterUse(name: $0, shape: biasShape, scalars: outputWidth, descent: descent, region: outputSlice)] } ?? [])
    }
}

extension AuxGraph {
    /// Every parameter use of every node, in node order (the one walk the parameter names, shapes, count and TinT's
    /// update set are read from), with the node it belongs to.
    public var parameterUses: [(node: Int, use: AuxParameterUse)] {
        nodes.indices.flatMap { n in nodes[n].op.parameterUses(width: nodes[n].width).map { (n, $0) } }
    }

    /// The number of aux parameters (scalars) the graph reads: the tables (and head) plus every node's use (the
    /// slices of a fused parameter are disjoint, so they add up to it).
    public var parameterCount: Int {
        let tables = Set(tableShapes.keys).union([headWeight]).reduce(0) { $0 + (tableShapes[$1]?.reduce(1, *) ?? 0) }
        return parameterUses.reduce(tables) { $0 + $1.use.scalars }
    }

    /// Every parameter name the graph reads.
    public var parameterNames: Set<String> {
        Set(parameterUses.map(\.use.name)).union(tableShapes.keys).union([headWeight])
    }

    /// The stored shape of every parameter the graph reads (weights in their checkpoint layout, tables).
    public var parameterShapes: [String: [Int]] {
        var shapes = tableShapes
        for (_, use) in parameterUses { shapes[use.name] = use.shape }
        return shapes
    }

    /// The parameters TinT's rule trains (Docs/TINT.md §8) in the nodes simulated with `config`: the uses whose
    /// ``AuxParameterUse/descent`` moves under `config.layerNormUpdate`, in the top n_sim layers and above them.
    public func approximateDescentParameters(config: TinTConfig) -> Set<String> {
        let n = config.simulatedLayers ?? layerCount
        var names: Set<String> = []
        for (node, use) in parameterUses where nodes[node].layer.map({ $0 >= layerCount - n }) ?? false {
            switch use.descent {
            case .moves: names.insert(use.name)
            case .movesWithFullNormUpdate: if config.layerNormUpdate == .full { names.insert(use.name) }
            case .frozen: break
            }
        }
        return names
    }
}

extension AuxGraph {
    /// Refuses tied weights TinT cannot move together: a parameter that TinT's rule moves (with `config`) and that
    /// another use also reads — a second node, or a frozen table such as a tied head. Each node's Descent updates
    /// its own prefix copy, so the copies would drift apart where Autodiff moves one shared tensor. Disjoint slices
    /// of one fused parameter (GPT-2's `c_attn`: Q, K, V) are separate weights and pass.
    ///
    /// - Throws: `TinTError.unsupportedNode` naming the node whose moving parameter is tied, and the other reader.
    func checkTiedParameters(config: TinTConfig) throws {
        let moving = approximateDescentParameters(config: config)
        guard !moving.isEmpty else { return }
        let uses = parameterUses.filter { moving.contains($0.use.name) }
        for (i, (node, use)) in uses.enumerated() {
            if tableShapes[use.name] != nil || use.name == headWeight {
                throw TinTError.unsupportedNode(node: nodes[node].name, reason: "its parameter '\(use.name)' is also a frozen "
                                                + "table of the graph (tied weights): TinT would move only this node's copy")
            }
            for (other, o) in uses[(i + 1)...] where o.name == use.name {
                let overlap = use.region.map { a in o.region.map { a.overlaps($0) } ?? true } ?? true
                guard overlap else { continue }
                throw TinTError.unsupportedNode(node: nodes[node].name, reason: "its parameter '\(use.name)' is also read by "
                                                + "node '\(nodes[other].name)' (tied weights): TinT would update the two copies separately")
            }
        }
    }
}
