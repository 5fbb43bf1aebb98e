// libFuzzer target: vocab.json, merges.txt and tokenizer_config.json loading (BPETokenizer), then
// encoding and decoding with whatever tokenizer they make. The input is the three files separated by NUL
// bytes (vocab.json \0 merges.txt \0 tokenizer_config.json; missing parts are empty / absent).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let parts = UnsafeBufferPointer(start: data, count: size).split(separator: 0, maxSplits: 2,
                                                                    omittingEmptySubsequences: false)
    let vocabData = Data(parts[0])
    let mergesData = parts.count > 1 ? Data(parts[1]) : Data()
    do {
        var vocabulary = try BPETokenizer.parseVocabulary(vocabData, source: "<fuzz vocab>")
        var special = BPETokenizer.SpecialTokens.opt
        if parts.count > 2 {
            try BPETokenizer.parseSpecialTokens(Data(parts[2]), source: "<fuzz config>", into: &special,
                                                vocabulary: &vocabulary)
        }
        let merges = try BPETokenizer.parseMerges(mergesData, source: "<fuzz merges>")
        let tokenizer = try BPETokenizer(vocabulary: vocabulary, merges: merges, specialTokens: special,
                                         source: "<fuzz>")
        for text in ["Hello world, it's 2026!\n\t  x", "</s><pad>é漢字 🙂", String(decoding: vocabData.prefix(64), as: UTF8.self)] {
            let ids = tokenizer.encode(text, addBOS: true)
            _ = try tokenizer.decode(ids, skipSpecialTokens: true)
            _ = tokenizer.tokenize(text)
        }
    } catch is ModelError {
    } catch {
        preconditionFailure("a tokenizer loader threw \(type(of: error)), not ModelError: \(error)")
    }
    return 0
}
