// `tint dynamic-eval --method tint --distributed`: the TinT layer stack pipelined over the ranks of an MPI job
// (Docs/DISTRIBUTED.md). Only the opt-in build (TINT_MPI=1) links MPI; the default build refuses the flag.
import Autodiff
import Foundation
import LanguageModel
import ModelZoo
import TinT
#if canImport(TinTMPI)
import TinTMPI

/// Runs `dynamic-eval --method tint` as one rank of `mpirun -np N`: every rank reads the model's config and the
/// tokens, builds its stage of the partition by parameter count (rank 0 prints it on stderr), checks with the others
/// that build, model, configuration and tokens agree, loads only its stage's tensors from the checkpoint (each rank
/// says how many on stderr), and runs its stage for every block; the last rank prints the result. Any failure ends
/// the whole job (`MPI_Abort`) with the rank's message and a non-zero status.
func distributedDynamicEval(_ o: ParsedOptions) throws {
    let world = try MPIWorld()
    do {
        let timeout = try o.double("--peer-timeout", in: 1...1e6) ?? 600
        let run = try DescentRun(o, methods: [.tint], distributed: true)
        let graph = try AuxGraph(config: run.modelConfig)
        let program = try TinTCompiler.compile(graph, config: run.config)
        let partition = try TinTPartition(balancing: graph, stageCount: world.size)
        if world.rank == 0 { Console.note("dynamic-eval --distributed over \(world.size) rank\(world.size == 1 ? "" : "s"):\n\(partition)") }
        try world.agree(on: PipelineFingerprint(build: try MPIWorld.executableIdentity(), program: program, partition: partition,
                                                inputs: "\(run.ids) \(run.trainFraction) \(run.block)"))
        // The loaded weights are handed over, not kept: without a read-back base (dynamic evaluation never reads back)
        // the rank then holds its stage's simulated weights only as prefixes.
        let executor = try TinTExecutor(program: program,
                                        parameters: try loadStageParameters(run: run, graph: graph, partition: partition, stage: world.rank),
                                        partition: partition, stage: world.rank, readBackBase: false)
        let transport = MPITransport(world: world, timeout: timeout)
        let isLast = world.rank == world.size - 1
        let r = try evaluateDescent(model: nil, tintStage: { ids, mask in
            try executor.runStage(ids: ids, trainMask: mask, countsTarget: { $0 < mask.count && mask[$0] },
                                  transport: world.size > 1 ? transport : nil)
        }, ids: run.ids, trainFraction: run.trainFraction, block: run.block, config: run.config, methods: [.tint]) {
            if isLast { Progress.update("dynamic-eval: blocks", $0, $1) }
        }
        if isLast { try printDynamicEval(r, run: run, method: .tint, json: o.has("--json")) }
    } catch {
        world.abort("tint dynamic-eval --distributed: \(error)")
    }
    world.finish()
}
#else
/// The default build has no MPI: says how to get it.
func distributedDynamicEval(_ o: ParsedOptions) throws {
    throw ArgumentError("--distributed needs the MPI build: install Open MPI (libopenmpi-dev), build with TINT_MPI=1 "
                        + "(e.g. TINT_MPI=1 swift build -c release --scratch-path .build-mpi) and start it with mpirun (Docs/DISTRIBUTED.md)")
}
#endif

/// Stage `stage`'s tensors of `partition` (``TinTPartition/parameterNames(stage:graph:)``), read from the run's model
/// directory without converting any other tensor, so a rank holds about its share of the weights (the embeddings
/// and head are shared by the first and last stages). Says on stderr how many it read, of how many the graph has.
func loadStageParameters(run: DescentRun, graph: AuxGraph, partition: TinTPartition, stage: Int) throws -> ParameterSet<Float> {
    let names = partition.parameterNames(stage: stage, graph: graph)
    let (config, parameters) = try ModelRegistry.zoo.loadParameters(named: names, directory: URL(fileURLWithPath: run.modelDirectory))
    // The directory was read twice (its config for the graph, then its tensors): refuse a config.json replaced between.
    guard config.isSame(as: run.modelConfig) else {
        throw CommandError("\(run.modelDirectory): config.json changed while loading")
    }
    let total = graph.parameterShapes.values.reduce(0) { $0 + $1.reduce(1, *) }
    let mib = String(format: "%.1f", Double(parameters.scalarCount * MemoryLayout<Float>.size) / 1_048_576)
    Console.note("rank \(stage) of \(partition.count): loaded \(parameters.count) of \(graph.parameterShapes.count) tensors, "
                 + "\(parameters.scalarCount) of \(total) parameters (\(mib) MiB)")
    return parameters
}
