import Foundation

/// The files shipped inside `tint` (Package.swift copies them as resources): the demo model, trained by
/// `tint train` (README, "Demo model"), and the validation and held-out test splits of its text
/// (Docs/DATA.md).
enum DemoResources {
    /// The demo model's directory: Hugging Face layout (config.json, model.safetensors, vocab.json,
    /// merges.txt, tokenizer_config.json) and training.json.
    static var modelDirectory: URL { resource("DemoModel") }
    /// The validation split (chapters separated by blank lines): for choosing hyper-parameters.
    static var validationText: URL { resource("DemoData").appendingPathComponent("validation.txt") }
    /// The held-out test split: the passages a demo reports on.
    static var testText: URL { resource("DemoData").appendingPathComponent("test.txt") }

    private static func resource(_ name: String) -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil) else {
            fatalError("tint's resource bundle lacks \(name): rebuild with `swift build -c release`")
        }
        return url
    }
}
