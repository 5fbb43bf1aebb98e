import LanguageModel
import OPT

/// A model family's front end: its configuration turned into an ``AuxGraph`` named by the checkpoint's parameter
/// names and layouts. The family's configuration type conforms (in this module, so the model modules do not
/// depend on TinT), and ``AuxGraph/init(model:)`` selects the front end by the model's configuration type.
public protocol TinTFrontEnd: CausalLMConfig {
    /// The aux graph of a model with this configuration.
    func auxGraph() throws -> AuxGraph
}

extension OPTConfig: TinTFrontEnd {
    /// ``AuxGraph/init(opt:)``.
    public func auxGraph() throws -> AuxGraph { try AuxGraph(opt: self) }
}

extension AuxGraph {
    /// The graph of any model whose family has a front end (OPT, GPT-2, Llama).
    ///
    /// - Throws: `TinTError.unsupportedNode` naming the model type when its family has no front end.
    public init(config: any CausalLMConfig) throws {
        guard let frontEnd = config as? any TinTFrontEnd else {
            throw TinTError.unsupportedNode(node: "model_type '\(type(of: config).modelTypes.first ?? "?")'",
                                            reason: "no TinT front end for this family (OPT, GPT-2 and Llama have one)")
        }
        self = try frontEnd.auxGraph()
    }

    /// The graph of `model` (see ``init(config:)``).
    public init(model: any CausalLM) throws { try self.init(config: model.config) }
}
