/// `TinTConfig` as JSON with snake_case keys. The approximation options are words with their scale beside them:
///
/// ```json
/// {"rows_per_prefix": 3, "sim_heads": 12, "learning_rate": 0.0001, "simulated_layers": null, "steps": 1,
///  "reuse_forward": true, "reuse_backward": false, "reference_compatible": false,
///  "layer_norm_backward": "first-order", "layer_norm_backward_scale": 1000,
///  "activation_backward": "finite-difference", "activation_backward_scale": 1000,
///  "gates": "tanh", "gate_scale": 10, "layer_norm_update": "bias-only", "attention_backward": "value-only"}
/// ```
///
/// A missing key takes the paper's default; an unknown word is a `DecodingError` naming the key.
extension TinTConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case rowsPerPrefix = "rows_per_prefix", simHeads = "sim_heads", learningRate = "learning_rate"
        case simulatedLayers = "simulated_layers", steps, reuseForward = "reuse_forward", reuseBackward = "reuse_backward"
        case referenceCompatible = "reference_compatible"
        case layerNormBackward = "layer_norm_backward", layerNormBackwardScale = "layer_norm_backward_scale"
        case activationBackward = "activation_backward", activationBackwardScale = "activation_backward_scale"
        case gates, gateScale = "gate_scale", layerNormUpdate = "layer_norm_update", attentionBackward = "attention_backward"
    }

    /// Decodes a configuration; absent keys take the defaults of ``init(rowsPerPrefix:simHeads:learningRate:simulatedLayers:steps:reuseForward:reuseBackward:referenceCompatible:layerNormBackward:activationBackward:gates:layerNormUpdate:attentionBackward:)``.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TinTConfig()
        func word(_ key: CodingKeys, _ words: [String], _ fallback: String) throws -> String {
            guard let w = try c.decodeIfPresent(String.self, forKey: key) else { return fallback }
            guard words.contains(w) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c,
                                                       debugDescription: "must be one of \(words.joined(separator: ", ")), got '\(w)'")
            }
            return w
        }
        self.init(rowsPerPrefix: try c.decodeIfPresent(Int.self, forKey: .rowsPerPrefix) ?? d.rowsPerPrefix,
                  simHeads: try c.decodeIfPresent(Int.self, forKey: .simHeads) ?? d.simHeads,
                  learningRate: try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate,
                  simulatedLayers: try c.decodeIfPresent(Int.self, forKey: .simulatedLayers),
                  steps: try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps,
                  reuseForward: try c.decodeIfPresent(Bool.self, forKey: .reuseForward) ?? d.reuseForward,
                  reuseBackward: try c.decodeIfPresent(Bool.self, forKey: .reuseBackward) ?? d.reuseBackward,
                  referenceCompatible: try c.decodeIfPresent(Bool.self, forKey: .referenceCompatible) ?? d.referenceCompatible)
        let lnScale = try c.decodeIfPresent(Double.self, forKey: .layerNormBackwardScale) ?? 1000
        layerNormBackward = try word(.layerNormBackward, ["first-order", "exact"], "first-order") == "exact"
            ? .exact : .firstOrder(lnScale)
        let actScale = try c.decodeIfPresent(Double.self, forKey: .activationBackwardScale) ?? 1000
        activationBackward = try word(.activationBackward, ["finite-difference", "exact"], "finite-difference") == "exact"
            ? .exact : .finiteDifference(actScale)
        let g = try c.decodeIfPresent(Double.self, forKey: .gateScale) ?? 10
        gates = try word(.gates, ["tanh", "hard"], "tanh") == "hard" ? .hard : .tanh(g)
        layerNormUpdate = try word(.layerNormUpdate, ["bias-only", "full"], "bias-only") == "full" ? .full : .biasOnly
        _ = try word(.attentionBackward, ["value-only"], "value-only")
        attentionBackward = .valueOnly
    }

    /// Encodes every field (`simulated_layers` is null for all layers; a scale only beside the option that has one).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rowsPerPrefix, forKey: .rowsPerPrefix)
        try c.encode(simHeads, forKey: .simHeads)
        try c.encode(learningRate, forKey: .learningRate)
        try c.encode(simulatedLayers, forKey: .simulatedLayers)
        try c.encode(steps, forKey: .steps)
        try c.encode(reuseForward, forKey: .reuseForward)
        try c.encode(reuseBackward, forKey: .reuseBackward)
        try c.encode(referenceCompatible, forKey: .referenceCompatible)
        switch layerNormBackward {
        case .firstOrder(let n): try c.encode("first-order", forKey: .layerNormBackward); try c.encode(n, forKey: .layerNormBackwardScale)
        case .exact: try c.encode("exact", forKey: .layerNormBackward)
        }
        switch activationBackward {
        case .finiteDifference(let n):
            try c.encode("finite-difference", forKey: .activationBackward); try c.encode(n, forKey: .activationBackwardScale)
        case .exact: try c.encode("exact", forKey: .activationBackward)
        }
        switch gates {
        case .tanh(let g): try c.encode("tanh", forKey: .gates); try c.encode(g, forKey: .gateScale)
        case .hard: try c.encode("hard", forKey: .gates)
        }
        try c.encode(layerNormUpdate == .full ? "full" : "bias-only", forKey: .layerNormUpdate)
        try c.encode("value-only", forKey: .attentionBackward)
    }
}
