import Foundation
import Testing
import Autodiff
import LanguageModel
import OPT
import Tensor
@testable import TinT

/// The pipelined executor against its oracle, the single-process executor: the stages run the same node code in the
/// same order on the same values, so the logits and every read-back weight must be bit-identical (tolerance 0), in
/// Float and Double, for every split of the layers, 1–2 steps and n_sim below L.
@Suite struct PipelineTests {
    /// A random OPT of `layers` layers, D 32, 4 heads, FFN 64, vocab 96 (the tiny fixtures' shape, more layers).
    static func deepOPT(layers: Int, preLN: Bool = true) throws -> OPTModel {
        var c = OPTConfig()
        c.hiddenSize = 32; c.wordEmbedProjDim = 32; c.ffnDim = 64; c.numAttentionHeads = 4; c.vocabSize = 96
        c.maxPositionEmbeddings = 64; c.numHiddenLayers = layers; c.doLayerNormBefore = preLN
        return try OPTModel(config: c, seed: 11)
    }

    /// The single-process outcome and the pipelined one (threads, ``LocalPipeline``) with `layersPerStage`.
    func both<S: TensorScalar>(_ graph: AuxGraph, _ parameters: ParameterSet<S>, config: TinTConfig, layersPerStage: [Int],
                               ids: [Int], mask: [Bool]) throws -> (single: DescentOutcome<S>, pipelined: DescentOutcome<S>) {
        let program = try TinTCompiler.compile(graph, config: config, scalar: S.self)
        let single = try TinTExecutor(program: program, parameters: parameters).run(ids: ids, trainMask: mask, readBack: true)
        let partition = try TinTPartition(graph: graph, layersPerStage: layersPerStage)
        let stages = try (0..<partition.count).map { try TinTExecutor(program: program, parameters: parameters, partition: partition, stage: $0) }
        let pipelined = try LocalPipeline.run(stages, ids: ids, trainMask: mask, countsTarget: { i in i < mask.count && mask[i] },
                                              readBack: true, timeout: 120)
        return (single, pipelined)
    }

    /// Logits before and after, and every read-back parameter, identical bit for bit.
    func expectIdentical<S: TensorScalar>(_ a: DescentOutcome<S>, _ b: DescentOutcome<S>, _ label: String) throws {
        #expect(a.logitsBefore.scalars == b.logitsBefore.scalars, "\(label): logits before differ by \(maxDiff(a.logitsBefore, b.logitsBefore))")
        #expect(a.logitsAfter.scalars == b.logitsAfter.scalars, "\(label): logits after differ by \(maxDiff(a.logitsAfter, b.logitsAfter))")
        #expect(maxDiff(a.logitsAfter, a.logitsBefore) > 0, "\(label): the step must move the logits")
        let pa = try #require(a.parameters), pb = try #require(b.parameters)
        #expect(Set(pa.names) == Set(pb.names), "\(label): read-back names differ")
        for (name, t) in pa {
            let u = try pb.tensor(name)
            #expect(t.shape == u.shape && t.scalars == u.scalars, "\(label): read-back '\(name)' differs")
        }
    }

    static let fixtures = ["tiny-opt-pre-ln", "tiny-opt-post-ln", "tiny-gpt2", "rms-graph", "tiny-llama", "padded-llama"]

    /// Two stages of one layer each on the 2-layer fixtures, Double (exact config) and Float (the defaults, with
    /// their approximations): steps 1 and 2, n_sim 2 and 1 (stage 0 then only forwards once and sends its read-back).
    @Test(arguments: fixtures) func twoStagesEqualOneProcess(name: String) throws {
        let oracle = DoubleOracleTests()
        let (graph, parameters, vocabulary) = try oracle.fixture(name)
        let T = 20, ids = fixtureIDs(T, vocabulary: vocabulary, seed: 5), mask = (0..<T).map { $0 < 12 }
        for (steps, nSim) in [(1, nil), (2, 1)] as [(Int, Int?)] {
            let exact = try oracle.exactConfig(graph, learningRate: 0.004, steps: steps, simulatedLayers: nSim)
            let d = try both(graph, parameters, config: exact, layersPerStage: [1, 1], ids: ids, mask: mask)
            try expectIdentical(d.single, d.pipelined, "\(name) Double steps \(steps) n_sim \(String(describing: nSim))")
            var fast = try TinTDefaults(graph: graph).config
            fast.learningRate = 0.004; fast.steps = steps; fast.simulatedLayers = nSim
            let f = try both(graph, try parameters.converted(to: Float.self), config: fast, layersPerStage: [1, 1], ids: ids, mask: mask)
            try expectIdentical(f.single, f.pipelined, "\(name) Float steps \(steps) n_sim \(String(describing: nSim))")
        }
    }

    /// Three and four stages over a 4-layer OPT (pre- and post-LN), every split shape, n_sim 4, 3 and 1: a stage with
    /// no simulated node, values passing through, gradients crossing two cuts.
    @Test(arguments: [true, false]) func threeAndFourStagesEqualOneProcess(preLN: Bool) throws {
        let model = try Self.deepOPT(layers: 4, preLN: preLN)
        let graph = try AuxGraph(opt: model.config)
        let T = 16, ids = fixtureIDs(T, vocabulary: 96, seed: 3), mask = (0..<T).map { $0 < 10 }
        for (split, nSim, steps) in [([1, 1, 2], 4, 2), ([2, 1, 1], 3, 1), ([1, 2, 1], 1, 2), ([1, 1, 1, 1], nil, 2)] as [([Int], Int?, Int)] {
            let config = TinTConfig(rowsPerPrefix: 4, simHeads: 10, learningRate: 0.003, simulatedLayers: nSim, steps: steps)
            let d = try both(graph, model.parameters, config: config, layersPerStage: split, ids: ids, mask: mask)
            try expectIdentical(d.single, d.pipelined, "pre-LN \(preLN) split \(split) n_sim \(String(describing: nSim)) steps \(steps)")
        }
    }

    /// ICL's side-by-side sequences and chosen targets go through the pipeline unchanged.
    @Test func segmentsAndChosenTargetsEqualOneProcess() throws {
        let model = try Self.deepOPT(layers: 3)
        let graph = try AuxGraph(opt: model.config)
        let program = try TinTCompiler.compile(graph, config: TinTConfig(rowsPerPrefix: 4, simHeads: 10, learningRate: 0.005))
        let ids = fixtureIDs(18, vocabulary: 96, seed: 8), mask = (0..<18).map { $0 % 9 < 6 }
        let starts = (0..<18).map { $0 / 9 * 9 }
        let counts: @Sendable (Int) -> Bool = { $0 % 3 == 0 }
        let single = try TinTExecutor(program: program, parameters: model.parameters)
            .run(ids: ids, trainMask: mask, countsTarget: counts, segmentStarts: starts)
        let partition = try TinTPartition(balancing: graph, stageCount: 3)
        let stages = try (0..<3).map { try TinTExecutor(program: program, parameters: model.parameters, partition: partition, stage: $0) }
        let pipelined = try LocalPipeline.run(stages, ids: ids, trainMask: mask, countsTarget: counts, segmentStarts: starts)
        #expect(single.logitsAfter.scalars == pipelined.logitsAfter.scalars)
        #expect(single.logitsBefore.scalars == pipelined.logitsBefore.scalars)
    }

    /// A stage holds only its slice: its prefixes are the single executor's for its nodes, and the stages' prefix
    /// bytes add up to the single executor's.
    @Test func stagesHoldTheirSliceOfThePrefixes() throws {
        let model = try Self.deepOPT(layers: 4)
        let graph = try AuxGraph(opt: model.config)
        let program = try TinTCompiler.compile(graph, config: TinTConfig(rowsPerPrefix: 4, simHeads: 10, learningRate: 0.003))
        let single = try TinTExecutor(program: program, parameters: model.parameters)
        let partition = try TinTPartition(graph: graph, layersPerStage: [1, 3])
        let stages = try (0..<2).map { try TinTExecutor(program: program, parameters: model.parameters, partition: partition, stage: $0) }
        #expect(stages.map(\.prefixBytes).reduce(0, +) == single.prefixBytes)
        #expect(stages[0].prefixBytes < stages[1].prefixBytes)
        #expect(stages[0].tables.keys.contains("model.decoder.embed_positions.weight"))
        #expect(!stages[1].tables.keys.contains("model.decoder.embed_positions.weight"))
        #expect(stages[0].parameters.names.allSatisfy { !$0.contains("layers.3.") })
        #expect(stages[1].parameters.names.allSatisfy { !$0.contains("layers.0.") })
        #expect(throws: TinTError.self) { try stages[0].run(ids: [5, 6], trainMask: [true, false]) }
    }

    /// Without a read-back base the stages keep no weights (only the tables their runs read), give the same logits bit
    /// for bit, and refuse a read-back with a message that says why.
    @Test func stagesWithoutAReadBackBaseKeepNoWeights() throws {
        let model = try Self.deepOPT(layers: 3)
        let graph = try AuxGraph(opt: model.config)
        let program = try TinTCompiler.compile(graph, config: TinTConfig(rowsPerPrefix: 4, simHeads: 10, learningRate: 0.005))
        let ids = fixtureIDs(14, vocabulary: 96, seed: 4), mask = (0..<14).map { $0 < 8 }
        let partition = try TinTPartition(balancing: graph, stageCount: 2)
        func stages(base: Bool) throws -> [TinTExecutor<Float>] {
            try (0..<2).map { try TinTExecutor(program: program, parameters: model.parameters, partition: partition, stage: $0,
                                               readBackBase: base) }
        }
        let counts: @Sendable (Int) -> Bool = { $0 < 8 }
        let kept = try LocalPipeline.run(try stages(base: true), ids: ids, trainMask: mask, countsTarget: counts)
        let lean = try stages(base: false)
        #expect(lean.allSatisfy { $0.parameters.count == 0 && !$0.keepsReadBackBase })
        let dropped = try LocalPipeline.run(lean, ids: ids, trainMask: mask, countsTarget: counts)
        #expect(kept.logitsBefore.scalars == dropped.logitsBefore.scalars)
        #expect(kept.logitsAfter.scalars == dropped.logitsAfter.scalars)
        let single = try TinTExecutor(program: program, parameters: model.parameters, partition: try TinTPartition.single(graph),
                                      stage: 0, readBackBase: false)
        #expect(try single.run(ids: ids, trainMask: mask).logitsAfter.scalars == kept.logitsAfter.scalars)
        do {
            _ = try single.run(ids: ids, trainMask: mask, readBack: true)
            Issue.record("a read-back without a base must throw")
        } catch let TinTError.invalidArgument(module, reason) {
            #expect(module == "TinTExecutor" && reason.contains("readBackBase: false"))
        }
    }
}

/// Partitions: balanced by parameter count (checked against brute force), printable, and refused with a message
/// when they cannot be built.
@Suite struct PartitionTests {
    /// The DP split is the min-max optimum: compared with every split of small weight lists.
    @Test func minMaxSplitIsOptimal() {
        var rng = TensorRNG(seed: 4)
        for _ in 0..<200 {
            let n = Int(rng.next() % 7) + 1, parts = Int(rng.next() % UInt64(n)) + 1
            let w = (0..<n).map { _ in Int(rng.next() % 50) }
            let split = TinTPartition.minMaxSplit(w, parts: parts)
            #expect(split.count == parts && split.reduce(0, +) == n && split.allSatisfy { $0 >= 1 })
            func largest(_ lengths: [Int]) -> Int {
                var start = 0
                return lengths.map { l in defer { start += l }; return w[start..<start + l].reduce(0, +) }.max()!
            }
            // Every composition of n into `parts` positive lengths.
            func compositions(_ n: Int, _ k: Int) -> [[Int]] {
                k == 1 ? [[n]] : (1...max(1, n - k + 1)).flatMap { first in compositions(n - first, k - 1).map { [first] + $0 } }
            }
            let best = compositions(n, parts).map(largest).min()!
            #expect(largest(split) == best, "weights \(w) into \(parts): \(split)")
        }
    }

    /// OPT-125M's shape in two stages: the first stage holds the 38.6M-scalar token embeddings (and 1.6M positions),
    /// the last the tied head (the same 38.6M), so six layers each balance best (82.7M against 81.1M; 5/7 would be
    /// 75.6M/88.2M); in four stages the ends take fewer layers. Each cut is crossed by exactly one value (the residual stream), and the counts add up to the graph's parameters
    /// plus the head held a second time by the last stage (tied to the embeddings).
    @Test func opt125MSplitsByParameterCount() throws {
        let graph = try AuxGraph(opt: OPTConfig())
        let p2 = try TinTPartition(balancing: graph, stageCount: 2)
        #expect(p2.layers.map(\.count) == [6, 6], "\(p2)")
        let p4 = try TinTPartition(balancing: graph, stageCount: 4)
        #expect(p4.layers.map(\.count).reduce(0, +) == 12)
        #expect(p4.parameterCounts.max()! < p2.parameterCounts.max()!)
        for s in 1..<4 {
            let b = p4.boundary(s)
            #expect(b.count == 1 && graph.nodes[b[0]].name.hasSuffix("mlp_residual"), "cut \(s): \(b.map { graph.nodes[$0].name })")
        }
        let embeddings = graph.scalars(of: OPTModel.embedTokensName)
        #expect(p2.parameterCounts.reduce(0, +) == graph.parameterShapes.values.reduce(0) { $0 + $1.reduce(1, *) } + embeddings)
        #expect(p2.description.contains("stage 1: layers 6..<12"))
    }

    @Test func badPartitionsAreRefusedWithAMessage() throws {
        let graph = try AuxGraph(opt: try PipelineTests.deepOPT(layers: 3).config)
        for (k, fragment) in [(0, "0 stages for 3 aux layers"), (4, "4 stages for 3 aux layers")] {
            #expect { try TinTPartition(balancing: graph, stageCount: k) } throws: { "\($0)".contains(fragment) }
        }
        for split in [[1, 1], [3, 0], [2, 2], [] as [Int]] {
            #expect { try TinTPartition(graph: graph, layersPerStage: split) } throws: {
                "\($0)".contains("layers per stage \(split) must be ≥ 1 each and add up to the graph's 3 layers")
            }
        }
        let program = try TinTCompiler.compile(graph, config: TinTConfig(rowsPerPrefix: 4, simHeads: 10, learningRate: 0.003))
        let partition = try TinTPartition(graph: graph, layersPerStage: [1, 2])
        #expect { try TinTExecutor(program: program, parameters: ParameterSet<Float>(), partition: partition, stage: 2) } throws: {
            "\($0)".contains("stage 2 of a 2-stage partition")
        }
    }
}

/// The messages and the failure paths: a stage that throws stops the others with its error, a silent peer ends a wait
/// within the bound, a message of the wrong kind, step or scalar is named.
@Suite struct PipelineFailureTests {
    @Test func messagesRoundTripAndMismatchesAreNamed() throws {
        let t = try Tensor<Float>(shape: [2, 3], scalars: [1, -2, 3.5, .infinity, 0, 7])
        let m = PipelineMessage<Float>(kind: .backward, step: 2, entries: [("", t), ("", nil), ("w", t)])
        let bytes = m.encoded()
        #expect(try PipelineMessage<Float>.decode(bytes, expecting: .backward, step: 2, stage: 0, peer: 1) == m)
        #expect { try PipelineMessage<Float>.decode(bytes, expecting: .forward, step: 2, stage: 0, peer: 1) } throws: {
            "\($0)" == "TinT pipeline stage 0: expected forward rows of pass 2 (4-byte scalars) from stage 1, received backward gradients of step 2 (4-byte scalars)"
        }
        #expect { try PipelineMessage<Double>.decode(bytes, expecting: .backward, step: 2, stage: 0, peer: 1) } throws: {
            "\($0)".contains("received backward gradients of step 2 (4-byte scalars)")
        }
        #expect { try PipelineMessage<Float>.decode(Array(bytes.dropLast(3)), expecting: .backward, step: 2, stage: 0, peer: 1) } throws: {
            "\($0)".contains("transport error: a message ends after")
        }
        // Corrupted dimensions (2³² × 2³²) are refused, not multiplied into an overflow.
        var corrupt = PipelineMessage<Float>(kind: .forward, step: 0, entries: [("", t)]).encoded()
        let dimension = 4 + 4 + 4 + 8 + 8 + 8 + 8  // header, entry count, empty name, rank: the first dimension
        for d in 0..<2 {
            withUnsafeBytes(of: Int64(1 << 32).littleEndian) { for (k, b) in $0.enumerated() { corrupt[dimension + 8 * d + k] = b } }
        }
        #expect { try PipelineMessage<Float>.decode(corrupt, expecting: .forward, step: 0, stage: 1, peer: 0) } throws: {
            "\($0)" == "TinT pipeline stage 1: transport error: a tensor of shape [4294967296, 4294967296] from stage 0 does not fit in memory"
        }
    }

    /// A diverging step on the last stage (η 1e30): the first stage, waiting for gradients, is told and stops; the
    /// pipeline throws the last stage's non-finite error, not a hang nor the peer's echo.
    @Test func aFailingStageStopsTheOthers() throws {
        let model = try PipelineTests.deepOPT(layers: 2)
        let graph = try AuxGraph(opt: model.config)
        let program = try TinTCompiler.compile(graph, config: TinTConfig(rowsPerPrefix: 4, simHeads: 10, learningRate: 1e30, steps: 2))
        let partition = try TinTPartition(graph: graph, layersPerStage: [1, 1])
        let stages = try (0..<2).map { try TinTExecutor(program: program, parameters: model.parameters, partition: partition, stage: $0) }
        let ids = fixtureIDs(12, vocabulary: 96, seed: 1), mask = (0..<12).map { $0 < 8 }
        let start = Date()
        #expect { try LocalPipeline.run(stages, ids: ids, trainMask: mask, countsTarget: { _ in true }, timeout: 60) } throws: {
            guard case TinTError.nonFiniteValue = $0 else { return false }
            return true
        }
        #expect(Date().timeIntervalSince(start) < 30)
    }

    /// A peer that never sends: the wait ends after the bound with the peer named.
    @Test func aSilentPeerEndsTheWait() throws {
        let boxes = LocalMailboxes(stageCount: 2, timeout: 0.2)
        let transport = LocalPipelineTransport(stage: 1, mailboxes: boxes)
        #expect { try transport.receive(from: 0) } throws: { "\($0)" == "TinT pipeline stage 1: stage 0 failed: no message within 0.2 s" }
        try LocalPipelineTransport(stage: 0, mailboxes: boxes).send([1, 2], to: 1)
        #expect(try transport.receive(from: 0) == [1, 2])
        LocalPipelineTransport(stage: 0, mailboxes: boxes).fail("out of memory")
        #expect { try transport.receive(from: 0) } throws: { "\($0)" == "TinT pipeline stage 1: stage 0 failed: out of memory" }
    }
}
