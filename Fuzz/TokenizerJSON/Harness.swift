// libFuzzer target: tokenizer.json loading (JSONTokenizer: model, normalizer, pre-tokenizer,
// post-processor, decoder, added tokens, tokenizer_config.json flags), then encoding and decoding with
// whatever tokenizer loads. The input is tokenizer.json, optionally followed by a NUL byte and a
// tokenizer_config.json.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = UnsafeBufferPointer(start: data, count: size).split(separator: 0, maxSplits: 1,
                                                                    omittingEmptySubsequences: false)
    let json = Data(parts[0])
    let config = parts.count > 1 ? Data(parts[1]) : nil
    do {
        let tokenizer = try JSONTokenizer(json: json, source: "<fuzz tokenizer.json>", config: config,
                                          configSource: "<fuzz config>")
        let texts = ["Hello world, it's 2026!\r\n\t  x", "<s></s><|begin_of_text|>é́漢字 🙂 ▁▁ <0x41>",
                     String(decoding: json.prefix(96), as: UTF8.self)]
        for text in texts {
            for special in [true, false] {
                let ids = tokenizer.encode(text, addSpecialTokens: special)
                // Every id encoding makes has a token, so decoding it cannot fail.
                for id in ids { precondition(tokenizer.token(of: id) != nil, "encode made id \(id), which has no token") }
                _ = try tokenizer.decode(ids, skipSpecialTokens: special)
            }
        }
    } catch is ModelError {
    } catch {
        preconditionFailure("JSONTokenizer threw \(type(of: error)), not ModelError: \(error)")
    }
    return 0
}
