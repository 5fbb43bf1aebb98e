import LanguageModel
import Tensor

/// TinT for one model of any family with a front end: its graph compiled with a configuration, and the executor
/// holding its weights as prefixes. Build it once per command and pass it down. `run` performs one TinT forward
/// pass (the aux forward, `steps` internal SGD steps on the train part, and the forward with the updated weights).
public struct TinTSimulator: Sendable {
    /// The compiled program.
    public let program: TinTProgram<Float>
    /// The executor (prefixes of the model's weights).
    public let executor: TinTExecutor<Float>

    /// Compiles `model`'s graph (``AuxGraph/init(model:)``) with `config`; the aux shape is the model's.
    ///
    /// - Throws: `TinTError.ruleViolation` naming the first broken rule, `TinTError.unsupportedNode` naming a
    ///   node TinT cannot simulate (or a family without a front end).
    public init(model: any CausalLM, config: TinTConfig) throws {
        program = try TinTCompiler.compile(try AuxGraph(model: model), config: config)
        executor = try TinTExecutor(program: program, parameters: model.parameters)
    }

    /// The parameter accounting (see ``TinTParameterReport``).
    public var parameterReport: TinTParameterReport { program.parameterReport }

    /// One TinT forward pass; see ``TinTExecutor/run(ids:trainMask:readBack:)``.
    public func run(ids: [Int], trainMask: [Bool], readBack: Bool = false) throws -> DescentOutcome<Float> {
        try executor.run(ids: ids, trainMask: trainMask, readBack: readBack)
    }

    /// One TinT forward pass with the loss over chosen targets, optionally over independent sequences side by side;
    /// see ``TinTExecutor/run(ids:trainMask:countsTarget:segmentStarts:readBack:)``.
    public func run(ids: [Int], trainMask: [Bool], countsTarget: (Int) -> Bool, segmentStarts: [Int]? = nil,
                    readBack: Bool = false) throws -> DescentOutcome<Float> {
        try executor.run(ids: ids, trainMask: trainMask, countsTarget: countsTarget, segmentStarts: segmentStarts,
                         readBack: readBack)
    }
}
