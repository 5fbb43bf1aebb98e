// libFuzzer target: an ICL task's parsers (Sources/ICL) — task.json (ICLTaskFile, with its template) and a JSON
// Lines split (ICLExample.parseJSONLines) — and prompt rendering on what they accept. The first byte picks the
// parser: even → task.json, odd → a split whose task has (byte >> 1) % 6 + 1 labels.
import Foundation  // the ICL sources are compiled into this module (Scripts/fuzz.sh)

let limits = ICLLimits(maxTaskFileBytes: 1 << 16, maxSplitFileBytes: 1 << 20, maxLineBytes: 1 << 16,
                       maxExamples: 1_000, maxLabels: 64)

func checkTaskFile(_ data: Data) {
    guard let file = try? ICLTaskFile(data: data, file: "<fuzz>", limits: limits) else { return }
    precondition(!file.name.isEmpty && file.labels.count >= 2 && file.labels.count <= limits.maxLabels, "task.json accepted")
    precondition(Set(file.labels.map(\.name)).count == file.labels.count, "duplicate label names accepted")
    // The template round-trips, and a prompt renders with every label as demonstration and candidate.
    precondition((try? ICLTemplate(file.template.source)) == file.template, "template round trip")
    let examples = file.labels.indices.map { ICLExample(text: "t\($0)", label: $0) }
    let task = try! ICLTask(file: file, train: examples, validation: examples, test: examples)
    let prompt = try! task.prompt(demonstrations: examples, query: "q")
    precondition(prompt.context.hasSuffix(file.template.renderQuery(text: "q")), "the query ends the context")
    precondition(prompt.candidates.count == file.labels.count, "one candidate per label")
    for (i, example) in examples.enumerated() {
        precondition(try! task.demonstration(example) == file.template.renderQuery(text: example.text) + prompt.candidates[i]
                     + file.template.suffix, "a demonstration is its query and its candidate")
    }
}

func checkSplit(_ data: Data, labelCount: Int) {
    guard let examples = try? ICLExample.parseJSONLines(data, file: "<fuzz>", labelCount: labelCount, limits: limits) else {
        return
    }
    precondition(!examples.isEmpty && examples.count <= limits.maxExamples, "split size")
    for e in examples { precondition(!e.text.isEmpty && (0..<labelCount).contains(e.label), "example accepted") }
    // Each example's line, written back, parses to the same example.
    let lines = examples.map { e -> String in
        let text = String(data: try! JSONSerialization.data(withJSONObject: [e.text], options: [.fragmentsAllowed]), encoding: .utf8)!
        return "{\"text\": \(text.dropFirst().dropLast()), \"label\": \(e.label)}"
    }
    let again = try! ICLExample.parseJSONLines(Data(lines.joined(separator: "\n").utf8), file: "<round trip>",
                                               labelCount: labelCount, limits: ICLLimits())
    precondition(again == examples, "split round trip")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let selector = data[0]
    let body = Data(bytes: data + 1, count: size - 1)
    if selector & 1 == 0 {
        checkTaskFile(body)
    } else {
        checkSplit(body, labelCount: Int(selector >> 1) % 6 + 1)
    }
    return 0
}
