import Testing
@testable import LanguageModel
@testable import OPT

@Suite struct JSONTests {
    func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    func expectError(_ text: String, _ fragment: String, at offset: Int? = nil,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try parse(text)
            Issue.record("parsed \(text)", sourceLocation: sourceLocation)
        } catch let e as JSONParseError {
            #expect(e.reason.contains(fragment), "\(e.reason)", sourceLocation: sourceLocation)
            if let offset { #expect(e.offset == offset, sourceLocation: sourceLocation) }
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func parsesValues() throws {
        let v = try parse(#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "d"}, "e": 18446744073709551616} "#)
        #expect(v["a"]?.arrayValue?.count == 5)
        #expect(v["a"]?.arrayValue?[0].intValue == 1)
        #expect(v["a"]?.arrayValue?[1].intValue == nil)  // not an integer literal
        #expect(v["a"]?.arrayValue?[1].doubleValue == -2500)
        #expect(v["b"]?["c"]?.stringValue == "d")
        #expect(v["e"]?.intValue == nil)  // too large for Int
        #expect(v.objectValue?.map(\.key) == ["a", "b", "e"])
    }

    @Test func decodesEscapes() throws {
        let v = try parse(#""q\"b\\s\/\b\f\n\r\t\u00e9\u4e2d\ud83d\udc4d""#)
        #expect(v.stringValue == "q\"b\\s/\u{8}\u{c}\n\r\t\u{e9}\u{4e2d}\u{1f44d}")
        #expect(try parse("\"caf\u{e9} \u{1f44d}\"").stringValue == "caf\u{e9} \u{1f44d}")
    }

    @Test func rejectsInvalidText() {
        expectError("", "unexpected end")
        expectError("[1,]", "unexpected character")
        expectError("01", "unexpected text after", at: 1)
        expectError("-", "invalid number")
        expectError("1.", "invalid number")
        expectError("1e", "invalid number")
        expectError(".5", "unexpected character")
        expectError("\"abc", "unterminated string", at: 0)
        expectError("\"a\nb\"", "control character")
        expectError(#""\x""#, "invalid escape")
        expectError(#""\ud83d""#, "lone surrogate")
        expectError(#""\udc4d""#, "lone surrogate")
        expectError(#""\ud83d\u0041""#, "lone surrogate")
        expectError(#""\u12""#, "truncated")
        expectError(#""\u12G4""#, "invalid hex digit")
        expectError(#"{"a":1 "b":2}"#, "expected ',' or '}'")
        expectError(#"{"a" 1}"#, "expected ':'")
        expectError(#"{1:2}"#, "expected a string key")
        expectError(#"{"k":1,"k":2}"#, "duplicate key 'k'", at: 7)
        expectError("tru", "invalid literal")
        expectError(String(repeating: "[", count: 300), "nested deeper")
    }

    @Test func rejectsInvalidUTF8() {
        do {
            _ = try JSONParser.parse([0x22, 0xC3, 0x28, 0x22])
            Issue.record("accepted invalid UTF-8")
        } catch let e as JSONParseError {
            #expect(e.reason.contains("invalid UTF-8"))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func writesStringsAsSerdeJSON() {
        var out: [UInt8] = []
        appendJSONString("a\"b\\c\n\t\u{1}\u{7f}é", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #""a\"b\\c\n\t\u0001"# + "\u{7f}é\"")
    }
}
