import LanguageModel
import OPT
import Tensor

extension TinTConfig {
    /// The paper's defaults (S = 3, H_sim = 12, …) for an aux model of this shape; adjust the fields after.
    public init(opt c: OPTConfig) {
        self.init(auxWidth: c.hiddenSize, auxHeads: c.numAttentionHeads, auxMaxPositions: c.maxPositionEmbeddings)
    }
}

/// TinT for one OPT model: its graph compiled with a configuration, and the executor holding its weights as
/// prefixes. `run` performs one TinT forward pass (the aux forward, `steps` internal SGD steps on the train
/// part, and the forward with the updated weights).
public struct TinTSimulator: Sendable {
    /// The compiled program.
    public let program: TinTProgram
    /// The executor (prefixes of the model's weights).
    public let executor: TinTExecutor

    /// Compiles `model` with `config` (whose D_aux, H_aux must be the model's; see `TinTConfig(opt:)`).
    ///
    /// - Throws: `TinTError.ruleViolation` naming the first broken rule, `TinTError.unsupportedNode` naming a
    ///   node TinT cannot simulate.
    public init(model: OPTModel, config: TinTConfig) throws {
        program = try TinTCompiler.compile(try AuxGraph(opt: model.config), config: config)
        executor = try TinTExecutor(program: program, parameters: model.parameters)
    }

    /// The parameter accounting (see ``TinTParameterReport``).
    public var parameterReport: TinTParameterReport { program.parameterReport }

    /// One TinT forward pass; see ``TinTExecutor/run(ids:trainMask:readBack:)``.
    public func run(ids: [Int], trainMask: [Bool], readBack: Bool = false) throws -> DescentOutcome {
        try executor.run(ids: ids, trainMask: trainMask, readBack: readBack)
    }
}
