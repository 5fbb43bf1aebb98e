import LanguageModel
import OPT
import ModelZoo
import TinT

/// The `tint` method of `tint dynamic-eval` and `tint compare`: one TinT forward pass (the simulator) that
/// updates `model` on the train segment of `ids` and returns the logits before and after. The simulator is
/// compiled once per (model, configuration) and reused across blocks.
func runTinT(model: OPTModel, ids: [Int], trainMask: [Bool], config: TinTConfig) throws -> DescentOutcome {
    try SimulatorCache.shared.simulator(model: model, config: config).run(ids: ids, trainMask: trainMask)
}

/// The last compiled simulator (commands evaluate many blocks with one model and one configuration).
final class SimulatorCache: @unchecked Sendable {
    static let shared = SimulatorCache()
    private var key: (config: TinTConfig, parameters: Int)?
    private var cached: TinTSimulator?

    func simulator(model: OPTModel, config: TinTConfig) throws -> TinTSimulator {
        // The parameter count and config identify the model within one process run (commands load one model).
        if let key, let cached, key.config == config, key.parameters == model.parameterCount { return cached }
        let s = try TinTSimulator(model: model, config: config)
        key = (config, model.parameterCount)
        cached = s
        return s
    }
}
