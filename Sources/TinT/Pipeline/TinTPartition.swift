/// How a TinT run is split into pipeline stages (Docs/DISTRIBUTED.md): each stage holds a contiguous slice of the
/// aux layers — their nodes' simulator modules and prefixes — and runs only those nodes. The nodes below every layer
/// (embeddings, `project_in`) go with the first stage; the nodes above every layer (final norm, `project_out`) and the
/// glue (logits, loss gradient, with the head table) with the last. Values cross a cut only as whole node values (the
/// residual stream, ``boundary(_:)``), forward as token rows and backward as their gradients.
public struct TinTPartition: Sendable, Equatable, CustomStringConvertible {
    /// Per stage, the graph nodes it runs (contiguous, in order, covering every node).
    public let nodes: [Range<Int>]
    /// Per stage, the aux layers it holds.
    public let layers: [Range<Int>]
    /// Per stage, the aux parameter scalars it holds: its nodes' parameters and the tables it reads (the first stage
    /// the embeddings, the last the head), each name counted once per stage.
    public let parameterCounts: [Int]
    /// Per stage, the aux parameter names it owns: its nodes' parameters and tables, each name owned by the first
    /// stage that reads it; the first stage also owns names the graph does not read. A stage's read-back returns
    /// exactly its owned names, so the stages' read-backs together are the whole parameter set.
    let owners: [String: Int]
    /// Per node, the index of the last node reading its value (`nodes.count` for the graph's output, which the glue
    /// reads), or -1 when nothing does.
    let lastReader: [Int]

    /// The number of stages.
    public var count: Int { nodes.count }

    /// One stage holding the whole graph (the single-process executor).
    public static func single(_ graph: AuxGraph) throws -> TinTPartition {
        try TinTPartition(graph: graph, layersPerStage: [graph.layerCount])
    }

    /// The partition into `stageCount` stages that minimizes the largest stage's parameter count (aux parameters
    /// of its layers, the first stage also the embedding tables, the last the head), each stage at least one layer.
    ///
    /// - Throws: `PipelineError.invalidPartition` when `stageCount` is not in 1…L (L ≥ 1), or for the reasons of
    ///   ``init(graph:layersPerStage:)``.
    public init(balancing graph: AuxGraph, stageCount: Int) throws {
        let L = graph.layerCount
        guard stageCount >= 1, stageCount <= max(L, 1) else {
            throw PipelineError.invalidPartition(reason: "\(stageCount) stages for \(L) aux layers: each stage needs at least one layer")
        }
        guard L > 0 else { try self.init(graph: graph, layersPerStage: [0]); return }
        // Each layer's weight: the distinct parameters its nodes read; the nodes below every layer weigh on layer 0,
        // the nodes above every layer and the head on layer L − 1.
        var weight = [Int](repeating: 0, count: L)
        var seen = [Set<String>](repeating: [], count: L)
        for n in graph.nodes.indices {
            let l = min(max(graph.nodes[n].layer ?? 0, 0), L - 1)
            for name in graph.parametersRead(by: n) where seen[l].insert(name).inserted { weight[l] += graph.scalars(of: name) }
        }
        if seen[L - 1].insert(graph.headWeight).inserted { weight[L - 1] += graph.scalars(of: graph.headWeight) }
        try self.init(graph: graph, layersPerStage: Self.minMaxSplit(weight, parts: stageCount))
    }

    /// The partition with `layersPerStage[s]` consecutive aux layers on stage `s`.
    ///
    /// - Throws: `PipelineError.invalidPartition` when the counts do not add up to the graph's L or one is below 1
    ///   (0 only for a graph without layers), when the graph's nodes are not in layer order, or when a cut separates
    ///   two nodes that read the same parameter (other than a frozen table): each stage updates only its own copy.
    public init(graph: AuxGraph, layersPerStage: [Int]) throws {
        let L = graph.layerCount
        guard !layersPerStage.isEmpty, layersPerStage.reduce(0, +) == L,
              layersPerStage.allSatisfy({ $0 >= 1 }) || (L == 0 && layersPerStage == [0]) else {
            throw PipelineError.invalidPartition(reason: "layers per stage \(layersPerStage) must be ≥ 1 each and add up to the graph's \(L) layers")
        }
        // Node order must be layer order (below-layer nodes first), so each stage's nodes are one range.
        func rank(_ n: Int) -> Int { graph.nodes[n].layer ?? -1 }
        for n in graph.nodes.indices.dropFirst() where rank(n) < rank(n - 1) {
            throw PipelineError.invalidPartition(reason: "node '\(graph.nodes[n].name)' (layer \(rank(n))) follows node "
                                                 + "'\(graph.nodes[n - 1].name)' (layer \(rank(n - 1))): the graph is not in layer order")
        }
        var layerRanges: [Range<Int>] = [], start = 0
        for k in layersPerStage { layerRanges.append(start..<start + k); start += k }
        // Stage s starts at its first layer's first node (stage 0 at node 0); the last stage runs to the end.
        var starts = [0]
        for r in layerRanges.dropFirst() {
            starts.append(graph.nodes.firstIndex { ($0.layer ?? -1) >= r.lowerBound } ?? graph.nodes.count)
        }
        let nodeRanges = starts.indices.map { s in starts[s]..<(s + 1 < starts.count ? starts[s + 1] : graph.nodes.count) }

        var owners: [String: Int] = [:], counts = [Int](repeating: 0, count: nodeRanges.count)
        var held = [Set<String>](repeating: [], count: nodeRanges.count)
        let tables = Set(graph.tableShapes.keys)
        for (s, range) in nodeRanges.enumerated() {
            for n in range {
                for name in graph.parametersRead(by: n) {
                    if let o = owners[name], o != s, !tables.contains(name) {
                        throw PipelineError.invalidPartition(reason: "parameter '\(name)' is read on stage \(o) and by node "
                                                             + "'\(graph.nodes[n].name)' on stage \(s): a cut may not separate its readers")
                    }
                    if owners[name] == nil { owners[name] = s }
                    held[s].insert(name)
                }
            }
        }
        if owners[graph.headWeight] == nil { owners[graph.headWeight] = nodeRanges.count - 1 }
        held[nodeRanges.count - 1].insert(graph.headWeight)
        for s in held.indices { counts[s] = held[s].reduce(0) { $0 + graph.scalars(of: $1) } }

        var lastReader = [Int](repeating: -1, count: graph.nodes.count)
        for (j, node) in graph.nodes.enumerated() { for i in node.inputs { lastReader[i] = max(lastReader[i], j) } }
        if graph.output >= 0 && graph.output < graph.nodes.count { lastReader[graph.output] = graph.nodes.count }

        self.nodes = nodeRanges
        self.layers = layerRanges
        self.parameterCounts = counts
        self.owners = owners
        self.lastReader = lastReader
    }

    /// The stage that owns parameter `name` in a read-back (the first stage for a name the graph does not read).
    func owner(of name: String) -> Int { owners[name] ?? 0 }

    /// The node values that cross into stage `s` (1 ≤ s < count) from below, ascending: every node below the stage
    /// whose value a node of stage `s` or above (or the glue) still reads. Forward, stage `s − 1` sends them; backward,
    /// stage `s` sends their gradients. A value read two stages up passes through the stage between.
    public func boundary(_ s: Int) -> [Int] {
        let cut = nodes[s].lowerBound
        return (0..<cut).filter { lastReader[$0] >= cut }
    }

    /// One line per stage: its layers, nodes and parameter count (what a launcher prints).
    public var description: String {
        nodes.indices.map { s in
            let l = layers[s], share = Double(parameterCounts[s]) / Double(max(parameterCounts.reduce(0, +), 1)) * 100
            return "stage \(s): layers \(l.lowerBound)..<\(l.upperBound), nodes \(nodes[s].lowerBound)..<\(nodes[s].upperBound), "
                + "\(parameterCounts[s]) aux parameters (\(Int(share.rounded()))%)"
        }.joined(separator: "\n")
    }

    /// Splits `weights` into `parts` non-empty consecutive runs minimizing the largest run's sum (exact dynamic
    /// programme, O(parts·n²); ties go to the earliest cut). Returns the run lengths.
    static func minMaxSplit(_ weights: [Int], parts: Int) -> [Int] {
        let n = weights.count
        var prefix = [0]
        for w in weights { prefix.append(prefix.last! + w) }
        // best[k][i]: the smallest possible largest sum splitting the first i weights into k runs; cut[k][i] its last cut.
        var best = [[Int]](repeating: [Int](repeating: Int.max, count: n + 1), count: parts + 1)
        var cut = [[Int]](repeating: [Int](repeating: 0, count: n + 1), count: parts + 1)
        best[0][0] = 0
        for k in 1...parts {
            for i in k...(n - (parts - k)) {
                for j in (k - 1)..<i where best[k - 1][j] != Int.max {
                    let v = max(best[k - 1][j], prefix[i] - prefix[j])
                    if v < best[k][i] { best[k][i] = v; cut[k][i] = j }
                }
            }
        }
        var lengths: [Int] = [], i = n
        for k in stride(from: parts, to: 0, by: -1) { let j = cut[k][i]; lengths.append(i - j); i = j }
        return lengths.reversed()
    }
}

extension AuxGraph {
    /// The aux parameters node `n` reads: its op's parameters and the tables its lookups read.
    func parametersRead(by n: Int) -> [String] {
        let node = nodes[n]
        var names = node.op.parameterUses(width: node.width).map(\.name)
        switch node.op {
        case .tokenEmbedding(let w), .positionEmbedding(let w, _): names.append(w)
        default: break
        }
        return names
    }

    /// The scalars of parameter `name` (0 for a name the graph does not read).
    func scalars(of name: String) -> Int { parameterShapes[name]?.reduce(1, *) ?? 0 }
}
