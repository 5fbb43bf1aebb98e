import GPT2
import LanguageModel
import Llama
import OPT

extension ModelRegistry {
    /// Every model family of this package. Adding a family is one model file and one entry here.
    public static let zoo = ModelRegistry([
        OPTModel.self,
        GPT2Model.self,
        LlamaModel.self,
    ])
}
