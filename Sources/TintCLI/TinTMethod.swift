import LanguageModel
import TinT

/// The simulator of a command: compiled once from the model's graph and the command's configuration, and passed
/// down to every block the command evaluates (no process-global cache).
func compileSimulator(model: any CausalLM, config: TinTConfig) throws -> TinTSimulator {
    try TinTSimulator(model: model, config: config)
}
