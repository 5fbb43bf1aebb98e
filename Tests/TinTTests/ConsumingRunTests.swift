import Testing
import OPT
@testable import Tensor
@testable import TinT

/// ``TinTExecutor/consumingRun(ids:trainMask:countsTarget:segmentStarts:readBack:flops:)``: the same outcome as
/// `run`, bit for bit, and the executor's prefixes freed as the Descent replaces them. The second is observed between
/// two steps, where the run asks `countsTarget` for the second loss: by then a consuming run has freed every simulated
/// node's first prefixes, while an ordinary run (the control, which shows the check can fail) still shares them.
@Suite struct ConsumingRunTests {
    /// Weak references to the storage of every simulated node's prefixes (fp32 storage keeps the encoded tensors).
    final class Watch {
        struct Weak { weak var storage: TensorStorage<Float>? }
        var refs: [Weak] = []
        var aliveAtSecondLoss: (all: Int, replaced: Int)? = nil
        init(_ e: TinTExecutor<Float>) {
            for n in e.initialPrefixes.indices where e.program.simulated[n] {
                refs += e.initialPrefixes[n].map { Weak(storage: $0.tensor.storage) }
                frozen += e.initialPrefixes[n].indices.map { slot in
                    switch e.program.graph.nodes[n].op {
                    case .causalSelfAttention, .attention: slot % 3 != 2
                    case .layerNorm: true
                    case .linear(_, let trainable): !trainable
                    default: false
                    }
                }
            }
        }
        /// Whether each watched prefix may outlive the Descent, shared with the run: attention's query and key maps
        /// (value-only backprop; the tiny models have one chunk: Q, K, V), frozen maps (`project_out`) and the norms
        /// (moved, but post-LN's first norm gets no gradient from this loss).
        var frozen: [Bool] = []
        var alive: Int { refs.filter { $0.storage != nil }.count }
        var aliveReplaced: Int { zip(refs, frozen).filter { $0.0.storage != nil && !$0.1 }.count }
    }

    @Test(arguments: TinTExecutorTests.models) func consumingRunFreesThePrefixesAndMatchesRun(name: String) throws {
        let model = try fixtureModel(name)
        let T = 20
        var config = fixtureConfig(model, learningRate: 0.002, exact: true)
        config.steps = 2
        let program = try TinTCompiler.compile(try AuxGraph(opt: model.config), config: config)
        let ids = fixtureIDs(T, vocabulary: model.config.vocabSize, seed: 6), mask = (0..<T).map { $0 < 12 }
        for storage in [PrefixStorage.native, .float16] {
            let kept = try TinTExecutor(program: program, parameters: model.parameters, prefixStorage: storage)
            let expected = try kept.run(ids: ids, trainMask: mask, readBack: true)
            let executor = try TinTExecutor(program: program, parameters: model.parameters, prefixStorage: storage)
            let out = try executor.consumingRun(ids: ids, trainMask: mask, countsTarget: { $0 < 12 }, readBack: true)
            #expect(out.logitsBefore.scalars == expected.logitsBefore.scalars)
            #expect(out.logitsAfter.scalars == expected.logitsAfter.scalars)
            #expect(out.parameters?.map(\.tensor.scalars) == expected.parameters?.map(\.tensor.scalars))
            // A copy made before the call keeps its prefixes: it runs again to the same outcome.
            let copy = kept
            _ = try kept.consumingRun(ids: ids, trainMask: mask, countsTarget: { $0 < 12 })
            #expect(try copy.run(ids: ids, trainMask: mask).logitsAfter.scalars == expected.logitsAfter.scalars)
        }

        /// How many of the first prefixes are alive at step 2's loss: all, and those the Descent replaced.
        func aliveAtSecondLoss(consuming: Bool) throws -> (all: Int, replaced: Int, of: Int) {
            let executor = try TinTExecutor(program: program, parameters: model.parameters)
            let watch = Watch(executor)
            var lossCalls = 0
            // Each step's loss asks countsTarget about the train positions 1..<12 in order: the second sweep is step 2's.
            let counts: (Int) -> Bool = { i in
                if i == 1 { lossCalls += 1; if lossCalls == 2 { watch.aliveAtSecondLoss = (watch.alive, watch.aliveReplaced) } }
                return i < 12
            }
            if consuming {
                _ = try (consume executor).consumingRun(ids: ids, trainMask: mask, countsTarget: counts)
            } else {
                _ = try executor.run(ids: ids, trainMask: mask, countsTarget: counts)
            }
            let alive = try #require(watch.aliveAtSecondLoss)
            return (alive.all, alive.replaced, watch.refs.count)
        }
        let ordinary = try aliveAtSecondLoss(consuming: false), consumed = try aliveAtSecondLoss(consuming: true)
        #expect(ordinary.of > 0 && ordinary.all == ordinary.of)  // the executor keeps every first prefix
        #expect(consumed.replaced == 0, "\(consumed.replaced) replaced prefixes still held during a consuming run")
        // What stays is shared with the run, not a second copy: the frozen Q and K maps, and the norms (≤ a third).
        #expect(consumed.all * 3 <= consumed.of, "\(consumed.all) of \(consumed.of) first prefixes alive")
    }
}
