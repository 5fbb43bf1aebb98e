import GPT2
import LanguageModel
import Llama
import OPT

/// The released shapes of every family, by name: the configs' hyper-parameters, no weights (`tint params --shape`
/// counts TinT for them; `Bench tint --shape` builds them with random weights).
public enum ReleasedShapes {
    /// Every shape name, in the order `tint params --help` lists them.
    public static let names = ["opt-125m", "opt-350m", "opt-1.3b", "opt-2.7b", "opt-6.7b", "opt-13b",
                        "gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl",
                        "llama-125m", "tinyllama-1.1b", "llama-2-7b"]

    /// The configuration of the shape `name`.
    ///
    /// - Throws: `ModelError.invalidArgument` naming the shapes for an unknown name.
    public static func config(_ name: String) throws -> any CausalLMConfig {
        func opt(_ d: Int, _ layers: Int, _ heads: Int, _ ffn: Int, projection: Int? = nil, postLN: Bool = false) -> OPTConfig {
            var c = OPTConfig()
            c.hiddenSize = d; c.numHiddenLayers = layers; c.numAttentionHeads = heads; c.ffnDim = ffn
            c.wordEmbedProjDim = projection ?? d
            c.doLayerNormBefore = !postLN
            return c
        }
        func gpt2(_ d: Int, _ layers: Int, _ heads: Int) -> GPT2Config {
            var c = GPT2Config()
            c.nEmbd = d; c.nLayer = layers; c.nHead = heads
            return c
        }
        func llama(_ d: Int, _ layers: Int, _ heads: Int, _ kvHeads: Int, _ ffn: Int, positions: Int) -> LlamaConfig {
            var c = LlamaConfig()
            c.hiddenSize = d; c.numHiddenLayers = layers; c.numAttentionHeads = heads; c.numKeyValueHeads = kvHeads
            c.headDim = d / heads; c.intermediateSize = ffn; c.vocabSize = 32000; c.maxPositionEmbeddings = positions
            c.rmsNormEps = 1e-5
            return c
        }
        switch name {
        case "opt-125m": return OPTConfig()
        case "opt-350m": return opt(1024, 24, 16, 4096, projection: 512, postLN: true)
        case "opt-1.3b": return opt(2048, 24, 32, 8192)
        case "opt-2.7b": return opt(2560, 32, 32, 10240)
        case "opt-6.7b": return opt(4096, 32, 32, 16384)
        case "opt-13b": return opt(5120, 40, 40, 20480)
        case "gpt2": return gpt2(768, 12, 12)
        case "gpt2-medium": return gpt2(1024, 24, 16)
        case "gpt2-large": return gpt2(1280, 36, 20)
        case "gpt2-xl": return gpt2(1600, 48, 25)
        case "llama-125m": return llama(768, 12, 12, 4, 2048, positions: 2048)
        case "tinyllama-1.1b": return llama(2048, 22, 32, 4, 5632, positions: 2048)
        case "llama-2-7b":
            var c = llama(4096, 32, 32, 32, 11008, positions: 4096)
            c.rmsNormEps = 1e-5
            return c
        default:
            throw ModelError.invalidArgument(op: "shape", reason: "the shape must be one of \(names.joined(separator: ", ")), got '\(name)'")
        }
    }
}
