import OPT
import TinT

/// The `tint` method of `tint dynamic-eval` and `tint compare`: one TinT forward pass (the simulator) that
/// updates `model` on the train segment of `ids` and returns the logits before and after.
///
/// This is the only place the CLI calls the simulator; until the TinT executor lands it throws.
func runTinT(model: OPTModel, ids: [Int], trainMask: [Bool], config: TinTConfig) throws -> DescentOutcome {
    throw CommandError("--method tint is not yet available in this build (the TinT simulator has not landed); "
                       + "use --method approx or exact")
}
