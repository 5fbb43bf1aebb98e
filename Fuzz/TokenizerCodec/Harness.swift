// libFuzzer target: encoding and decoding arbitrary bytes with the fixture tokenizer
// (Tests/OPTTests/Fixtures/tokenizer, or $TINT_FUZZ_TOKENIZER). The input's bytes are the text (invalid
// UTF-8 becomes U+FFFD) and also, read as little-endian 16-bit numbers, a list of ids to decode.
import Foundation

let tokenizer: BPETokenizer = {
    let path = ProcessInfo.processInfo.environment["TINT_FUZZ_TOKENIZER"] ?? "Tests/OPTTests/Fixtures/tokenizer"
    return try! BPETokenizer(directory: URL(fileURLWithPath: path))
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: buffer, as: UTF8.self)
    let ids = tokenizer.encode(text, addBOS: false)
    for id in ids { precondition(tokenizer.token(of: id) != nil, "encode made an unknown id") }
    // The tokenizer's documented invariant: decode(encode(text)) == text, scalar for scalar.
    let back = try! tokenizer.decode(ids)
    precondition(back.unicodeScalars.elementsEqual(text.unicodeScalars), "decode(encode(text)) != text")
    var arbitrary: [Int] = []
    var i = 0
    while i + 1 < size { arbitrary.append(Int(data[i]) | Int(data[i + 1]) << 8); i += 2 }
    do {
        _ = try tokenizer.decode(arbitrary, skipSpecialTokens: size & 1 == 1)
    } catch let e as ModelError {
        guard case .invalidTokenID = e else { preconditionFailure("decode threw \(e)") }
    } catch {
        preconditionFailure("decode threw \(error)")
    }
    return 0
}
