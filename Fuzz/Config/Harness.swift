// libFuzzer target: config.json decoding and validation for every model family's config (OPTConfig,
// GPT2Config, LlamaConfig), the shapes a valid config implies, and an encode/decode round trip.
import Foundation
import LanguageModel

/// Every family's config type. A new family adds its config here (and its file to fuzz.sh's Config sources).
let configTypes: [any CausalLMConfig.Type] = [OPTConfig.self, GPT2Config.self, LlamaConfig.self]

func check<C: CausalLMConfig & Equatable>(_ type: C.Type, _ data: Data) {
    guard let config = try? C(data: data, source: "<fuzz>") else { return }
    precondition(config.vocabSize > 0 && config.hiddenSize > 0 && config.keyValueWidth > 0
                 && config.maxPositionEmbeddings > 0 && config.numHiddenLayers >= 0, "\(C.self): a non-positive dimension")
    try! config.validate(source: "<fuzz validate>")
    let encoded = try! JSONEncoder().encode(config)
    let decoded = try! C(data: encoded, source: "<fuzz round trip>")
    precondition(decoded == config, "\(C.self): config round trip")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    // Every family sees every input (a config of another model_type must be refused, not crash).
    check(OPTConfig.self, bytes)
    if let c = try? OPTConfig(data: bytes, source: "<fuzz>") {
        for (_, shape) in c.checkpointShapes { precondition(shape.allSatisfy { $0 > 0 }, "OPT: a non-positive dimension") }
    }
    check(GPT2Config.self, bytes)
    if let c = try? GPT2Config(data: bytes, source: "<fuzz>") {
        precondition(c.headDim * c.nHead == c.nEmbd && c.innerDim > 0 && c.activation != nil, "GPT-2: inconsistent shapes")
        precondition(c.checkedParameterCount != nil, "GPT-2: parameter count overflows")
    }
    check(LlamaConfig.self, bytes)
    if let c = try? LlamaConfig(data: bytes, source: "<fuzz>") {
        precondition(c.numAttentionHeads % c.numKeyValueHeads == 0 && c.headDim % 2 == 0 && c.activation != nil
                     && LlamaConfig.supportedRopeTypes.contains(c.ropeType) && c.ropeTheta > 0, "Llama: inconsistent config")
        precondition(c.checkedParameterCount != nil, "Llama: parameter count overflows")
        // A validated config's rope always builds (small heads only: the table is headDim/2 wide).
        if c.headDim <= 4096 {
            _ = try! RotaryEmbedding<Float>(positions: [0, 1], headDim: c.headDim, theta: c.ropeTheta, scaling: c.ropeScaling)
        }
    }
    precondition(configTypes.count == 3, "a family is missing from the harness")
    return 0
}
