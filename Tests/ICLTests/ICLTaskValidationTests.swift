import Foundation
import ICL
import Testing

/// Malformed task directories: every error is an ICLTaskError naming the file, the line and the key.
@Suite struct ICLTaskValidationTests {
    /// "key: reason" of the error loading a task whose task.json is `json` ("-" for no key).
    func taskError(_ json: String) throws -> String? {
        var files = validFiles()
        files["task.json"] = Array(json.utf8)
        guard let e = try loadError(files) else { return nil }
        guard case let .invalidTask(file, key, reason) = e, file.hasSuffix("/task.json") else {
            Issue.record("unexpected \(e)"); return nil
        }
        return "\(key ?? "-"): \(reason)"
    }

    func exampleError(_ split: String, _ bytes: [UInt8], limits: ICLLimits = .default) throws -> ICLTaskError? {
        var files = validFiles()
        files[split] = bytes
        return try loadError(files, limits: limits)
    }

    @Test func taskFileKeys() throws {
        let labels = #""labels": [{"name": "a", "words": "x"}, {"name": "b", "words": "y"}]"#
        let ok = #"{"name": "t", "template": "{text} {answer}", \#(labels)}"#
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}", "extra": 1, \#(labels)}"#)?.hasPrefix("extra: ") == true)
        #expect(try taskError(#"{"template": "{text} {answer}", \#(labels)}"#) == "name: missing")
        #expect(try taskError(#"{"name": 3, "template": "{text} {answer}", \#(labels)}"#) == "name: is a number, not a string")
        #expect(try taskError(#"{"name": "", "template": "{text} {answer}", \#(labels)}"#) == "name: is empty")
        #expect(try taskError(#"{"name": "t", \#(labels)}"#) == "template: missing")
        #expect(try taskError(#"{"name": "t", "template": "{text}", \#(labels)}"#)?.hasPrefix("template: ") == true)
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}"}"#) == "labels: missing")
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}", "labels": {}}"#) == "labels: is an object, not an array")
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}", "labels": [{"name": "a", "words": "x"}]}"#) == "labels: has 1 label(s); a task needs at least 2")
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}", "labels": [{"name": "a", "words": "x"}, 5]}"#) == "labels[1]: is a number, not an object")
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}", "labels": [{"name": "a", "words": "x"}, {"name": "b"}]}"#) == "labels[1].words: missing")
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}", "labels": [{"name": "a", "words": "x"}, {"name": "b", "words": " "}]}"#) == "labels[1].words: is empty or only whitespace")
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}", "labels": [{"name": "a", "words": "x"}, {"name": "b", "words": "y", "id": 2}]}"#)?
            .hasPrefix("labels[1].id: ") == true)
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}", "labels": [{"name": "a", "words": "x"}, {"name": "a", "words": "y"}]}"#) == "labels[1].name: 'a' is also the name of labels[0]")
        #expect(try taskError(#"{"name": "t", "template": "{text} {answer}", "labels": [{"name": "a", "words": "x"}, {"name": "b", "words": "x"}]}"#) == "labels[1].words: 'x' are also the words of labels[0]")
        #expect(try taskError(#"{"name": "t", "name": "u", "template": "{text} {answer}", \#(labels)}"#)?.contains("duplicate") == true)
        #expect(try taskError("[]") == "-: the top level is an array, not an object")
        #expect(try taskError(String(ok.dropLast()))?.contains("unexpected end") == true)
        #expect(try taskError(#"{"name": "t", "separator": null, "template": "{text} {answer}", \#(labels)}"#) == "separator: is null, not a string")
    }

    @Test func oversizedTaskFileIsRefusedBeforeReading() throws {
        var limits = ICLLimits.default
        limits.maxTaskFileBytes = 20
        let e = try loadError(validFiles(), limits: limits)
        guard case let .io(file, reason) = e else { Issue.record("\(String(describing: e))"); return }
        #expect(file.hasSuffix("/task.json") && reason.contains("exceeds the limit of 20"))
    }

    @Test func tooManyLabels() throws {
        var limits = ICLLimits.default
        limits.maxLabels = 2
        var files = validFiles()
        files["task.json"] = Array(#"{"name": "t", "template": "{text} {answer}", "labels": [{"name": "a", "words": "x"}, {"name": "b", "words": "y"}, {"name": "c", "words": "z"}]}"#.utf8)
        guard case let .invalidTask(_, key, reason) = try loadError(files, limits: limits) else { Issue.record("wrong error"); return }
        #expect(key == "labels" && reason.contains("more than the limit of 2"))
    }

    @Test func badLinesNameFileLineAndKey() throws {
        func check(_ line2: String, key: String?, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let bytes = Array(("{\"text\": \"ok\", \"label\": 0}\n" + line2 + "\n").utf8)
            let e = try exampleError("validation.jsonl", bytes)
            guard case let .invalidExample(file, line, k, message) = e else {
                Issue.record("unexpected \(String(describing: e))", sourceLocation: sourceLocation); return
            }
            #expect(file.hasSuffix("/validation.jsonl") && line == 2 && k == key, sourceLocation: sourceLocation)
            #expect(message.contains(reason), "\(message)", sourceLocation: sourceLocation)
        }
        try check(#"{"text": "x", "label": 2}"#, key: "label", "2 is out of range: the task has 2 labels (0…1)")
        try check(#"{"text": "x", "label": -1}"#, key: "label", "-1 is out of range")
        try check(#"{"text": "x", "label": 1.0}"#, key: "label", "is 1.0, not an integer label index")
        try check(#"{"text": "x", "label": "1"}"#, key: "label", "is '1', not an integer label index")
        try check(#"{"text": "x", "label": 99999999999999999999999}"#, key: "label", "not an integer")
        try check(#"{"text": "x"}"#, key: "label", "missing")
        try check(#"{"label": 1}"#, key: "text", "missing")
        try check(#"{"text": "", "label": 1}"#, key: "text", "is empty")
        try check(#"{"text": ["x"], "label": 1}"#, key: "text", "is an array, not a string")
        try check(#"{"text": "x", "label": 1, "source": "web"}"#, key: "source", "unknown key (known: text, label)")
        try check(#"["x", 1]"#, key: nil, "is an array, not an object")
        try check(#"{"text": "x", "label": 1} {"#, key: nil, "unexpected text after the JSON value")
        try check("", key: nil, "blank line")
        try check("   ", key: nil, "blank line")
        try check(#"{"text": "x", "text": "y", "label": 1}"#, key: nil, "duplicate")
    }

    @Test func invalidUTF8IsRefusedWithItsLine() throws {
        // A lone continuation byte inside the text, then an overlong encoding, then a BOM-less Latin-1 é.
        for bad: [UInt8] in [[0x80], [0xC0, 0xAF], [0xE9]] {
            let bytes = Array("{\"text\": \"ok\", \"label\": 0}\n{\"text\": \"".utf8) + bad + Array("\", \"label\": 1}\n".utf8)
            guard case let .invalidExample(file, line, key, reason) = try exampleError("test.jsonl", bytes) else {
                Issue.record("wrong error"); continue
            }
            #expect(file.hasSuffix("/test.jsonl") && line == 2 && key == nil)
            #expect(reason.contains("UTF-8"), "\(reason)")
        }
        // A byte-order mark is not JSON.
        guard case .invalidExample(_, 1, nil, _) = try exampleError("train.jsonl", [0xEF, 0xBB, 0xBF] + validFiles()["train.jsonl"]!)
        else { Issue.record("a BOM was accepted"); return }
    }

    @Test func emptyAndOversizedSplits() throws {
        guard case let .invalidSplit(file, reason) = try exampleError("train.jsonl", []) else { Issue.record("wrong error"); return }
        #expect(file.hasSuffix("/train.jsonl") && reason == "no examples")
        var limits = ICLLimits.default
        limits.maxExamples = 1
        guard case let .invalidSplit(_, tooMany) = try exampleError("train.jsonl", validFiles()["train.jsonl"]!, limits: limits)
        else { Issue.record("wrong error"); return }
        #expect(tooMany == "more than 1 examples (the limit)")
        limits = .default
        limits.maxLineBytes = 10
        guard case let .invalidExample(_, 1, nil, long) = try exampleError("test.jsonl", validFiles()["test.jsonl"]!, limits: limits)
        else { Issue.record("wrong error"); return }
        #expect(long.contains("exceeds the line limit of 10"))
        limits = .default
        limits.maxSplitFileBytes = 10
        guard case let .io(big, bigReason) = try loadError(validFiles(), limits: limits) else { Issue.record("wrong error"); return }
        #expect(big.hasSuffix("/train.jsonl") && bigReason.contains("exceeds the limit of 10"))
    }

    @Test func missingFilesAreNamed() throws {
        for name in ["task.json", "train.jsonl", "validation.jsonl", "test.jsonl"] {
            var files = validFiles()
            files[name] = nil
            guard case let .io(file, reason) = try loadError(files) else { Issue.record("wrong error for \(name)"); continue }
            #expect(file.hasSuffix("/" + name) && reason.hasPrefix("no such file"))
        }
        // A directory where a split should be.
        let dir = try taskDirectory(validFiles())
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("test.jsonl"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("test.jsonl"), withIntermediateDirectories: false)
        #expect(throws: ICLTaskError.io(file: dir.appendingPathComponent("test.jsonl").path, reason: "not a regular file")) {
            try ICLTask(directory: dir)
        }
    }

    @Test func messagesNameFileLineAndKey() {
        #expect(ICLTaskError.invalidExample(file: "d/train.jsonl", line: 7, key: "label", reason: "3 is out of range").description
            == "d/train.jsonl:7: invalid example: key label: 3 is out of range")
        #expect(ICLTaskError.invalidTask(file: "d/task.json", key: "labels[1].words", reason: "missing").description
            == "d/task.json: invalid task: key labels[1].words: missing")
        #expect(ICLTaskError.invalidTask(file: "d/task.json", key: "x\u{1B}[2J", reason: "unknown key").description
            == "d/task.json: invalid task: key x\\u{1B}[2J: unknown key")
    }

    @Test func memberwiseInitValidates() throws {
        let file = try ICLTaskFile(data: Data(validFiles()["task.json"]!), file: "task.json")
        let ok = [ICLExample(text: "a", label: 0)]
        #expect(throws: ICLTaskError.self) { try ICLTask(file: file, train: [], validation: ok, test: ok) }
        #expect(throws: ICLTaskError.self) { try ICLTask(file: file, train: ok, validation: [ICLExample(text: "a", label: 2)], test: ok) }
        #expect(throws: ICLTaskError.self) { try ICLTask(file: file, train: ok, validation: ok, test: [ICLExample(text: "", label: 0)]) }
        #expect(throws: Never.self) { try ICLTask(file: file, train: ok, validation: ok, test: ok) }
    }
}
