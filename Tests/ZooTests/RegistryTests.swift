import Foundation
import LanguageModel
import ModelZoo
import Testing

/// The zoo's registry: `model_type` to family.
@Suite struct RegistryTests {
    @Test func unknownModelTypeIsRefusedByName() throws {
        #expect(throws: ModelError.self) { try ModelRegistry.zoo.family(modelType: "mamba") }
        do { _ = try ModelRegistry.zoo.family(modelType: "mamba") } catch {
            let text = "\(error)"
            #expect(text.contains("'mamba'") && text.contains("opt"))
        }
    }
}
