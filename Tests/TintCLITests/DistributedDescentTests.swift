import Foundation
import OPT
import Testing
import TinT
@testable import TintCLI

/// `dynamic-eval`'s pipeline-stage path (what `--distributed` runs on each MPI rank), exercised without MPI: the
/// tint method run as a 2-stage in-process pipeline gives exactly the losses of the compiled simulator, and a
/// stage other than the last walks the same blocks without results.
@Suite struct DistributedDescentTests {
    @Test func aPipelinedStageEvaluatesLikeTheSimulator() throws {
        let model = try OPTModel.load(directory: URL(fileURLWithPath: DescentCommandTests.preLN))
        let config = TinTConfig(rowsPerPrefix: 4, simHeads: 20, learningRate: 0.05, steps: 2)
        let ids = DescentCommandTests.ids
        let single = try evaluateDescent(model: model, ids: ids, trainFraction: 0.5, block: 8, config: config, methods: [.tint])

        let graph = try AuxGraph(model: model)
        let program = try TinTCompiler.compile(graph, config: config)
        let partition = try TinTPartition(balancing: graph, stageCount: 2)
        let stages = try (0..<2).map { try TinTExecutor(program: program, parameters: model.parameters, partition: partition, stage: $0) }
        let pipelined = try evaluateDescent(model: model, tintStage: { chunk, mask in
            try LocalPipeline.run(stages, ids: chunk, trainMask: mask, countsTarget: { $0 < mask.count && mask[$0] })
        }, ids: ids, trainFraction: 0.5, block: 8, config: config, methods: [.tint])
        #expect(pipelined.blocks == 3 && single.blocks == 3)
        #expect(pipelined.before.mean == single.before.mean && pipelined.before.count == single.before.count)
        #expect(pipelined.after[.tint]!.mean == single.after[.tint]!.mean)
        #expect(single.after[.tint]!.mean != single.before.mean)

        var calls = 0
        let upstream = try evaluateDescent(model: model, tintStage: { _, _ in calls += 1; return nil }, ids: ids,
                                           trainFraction: 0.5, block: 8, config: config, methods: [.tint])
        #expect(calls == 3 && upstream.blocks == 3 && upstream.before.count == 0)
    }

    /// What each rank of `--distributed` does, without MPI: the run reads only the config, each stage loads only its
    /// tensors (fewer than the model's; together all of them), and the pipelined stages evaluate like the simulator.
    @Test func stagesLoadingOnlyTheirTensorsEvaluateLikeTheSimulator() throws {
        let args = ["--model", DescentCommandTests.preLN, "--ids", DescentCommandTests.ids.map(String.init).joined(separator: ","),
                    "--train-fraction", "0.5", "--block", "8", "--rows-per-prefix", "4", "--sim-heads", "20", "--lr", "0.05",
                    "--steps", "2", "--quiet"]
        let o = try ParsedOptions(args, valued: DescentRun.valued, flags: DescentRun.flags)
        let run = try DescentRun(o, methods: [.tint], distributed: true)
        #expect(run.model == nil && run.simulator == nil)
        let model = try OPTModel.load(directory: URL(fileURLWithPath: DescentCommandTests.preLN))
        let single = try evaluateDescent(model: model, ids: run.ids, trainFraction: 0.5, block: 8, config: run.config, methods: [.tint])

        let graph = try AuxGraph(config: run.modelConfig)
        let program = try TinTCompiler.compile(graph, config: run.config)
        let partition = try TinTPartition(balancing: graph, stageCount: 2)
        let loaded = try (0..<2).map { try loadStageParameters(run: run, graph: graph, partition: partition, stage: $0) }
        #expect(loaded.allSatisfy { $0.count < model.parameters.count })
        #expect(Set(loaded.flatMap(\.names)) == Set(model.parameters.names))
        let stages = try (0..<2).map { try TinTExecutor(program: program, parameters: loaded[$0], partition: partition, stage: $0) }
        let pipelined = try evaluateDescent(model: nil, tintStage: { chunk, mask in
            try LocalPipeline.run(stages, ids: chunk, trainMask: mask, countsTarget: { $0 < mask.count && mask[$0] })
        }, ids: run.ids, trainFraction: 0.5, block: 8, config: run.config, methods: [.tint])
        #expect(pipelined.blocks == single.blocks && pipelined.before.mean == single.before.mean)
        #expect(pipelined.after[.tint]!.mean == single.after[.tint]!.mean)
    }

    @Test func distributedNeedsTheTinTMethod() throws {
        #expect { try dynamicEvalCommand.run(["--model", DescentCommandTests.preLN, "--ids", "5,6,7,8", "--train-fraction", "0.5",
                                              "--method", "approx", "--distributed"]) } throws: {
            "\($0)".contains("--distributed pipelines the TinT simulator: it needs --method tint")
        }
    }

    #if !canImport(TinTMPI)
    /// The default build has no MPI: the flag is refused with the way to get it.
    @Test func theDefaultBuildRefusesDistributed() throws {
        #expect { try dynamicEvalCommand.run(["--model", DescentCommandTests.preLN, "--ids", "5,6,7,8", "--train-fraction", "0.5",
                                              "--method", "tint", "--distributed"]) } throws: {
            "\($0)".contains("--distributed needs the MPI build") && "\($0)".contains("TINT_MPI=1")
        }
    }
    #endif
}
