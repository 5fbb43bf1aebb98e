import Foundation
import Synchronization
import LanguageModel
import OPT
import ModelZoo

/// One `tint` subcommand: its name, a one-line summary, its help text and what it does.
struct Command: Sendable {
    let name: String
    let summary: String
    let help: String
    let run: @Sendable ([String]) throws -> Void
}

/// A failure while running a command (bad model directory, bad input file…): printed as `tint NAME: error: …`,
/// exit status 1.
struct CommandError: Error, Equatable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Shared helpers

/// What a model directory holds, for messages.
let modelDirectoryContents = "a Hugging Face model directory with config.json and model.safetensors; model types: "
    + ModelRegistry.zoo.modelTypes.joined(separator: ", ")

/// Loads the model in `directory`, with a message on stderr (loading a large checkpoint takes a moment).
/// The family is chosen by `config.json`'s `model_type` (``ModelRegistry/zoo``).
func loadModel(_ directory: String) throws -> any CausalLM {
    let url = try modelDirectoryURL(directory)
    Progress.note("loading \(directory)…")
    let model = try ModelRegistry.zoo.load(directory: url)
    Progress.note("loaded: \(type(of: model.config).modelTypes[0]), \(model.config.numHiddenLayers) layers, "
                  + "hidden \(model.config.hiddenSize), \(model.parameterCount) parameters")
    return model
}

/// The config of the model in `directory`, without its weights (a pipeline stage reads only its own tensors).
func loadModelConfig(_ directory: String) throws -> any CausalLMConfig {
    try ModelRegistry.zoo.config(at: try modelDirectoryURL(directory))
}

/// `directory` as the URL of a readable directory (`--model`'s checks and message).
func modelDirectoryURL(_ directory: String) throws -> URL {
    try PathChecks.requireReadableDirectory(directory, option: "--model", expected: modelDirectoryContents)
    return URL(fileURLWithPath: directory)
}

/// The tokens to evaluate: `--ids` as given, or `--file` encoded with the model directory's tokenizer
/// (OPT's: `</s>` first).
func loadTokens(_ o: ParsedOptions, config: any CausalLMConfig, modelDirectory: String) throws -> [Int] {
    let (name, value) = try o.oneOf("--file", "--ids")
    if name == "--ids" { return try parseIDList(value) }
    let text = try InputText.read(value, option: "--file")
    let tokenizer = try loadTokenizer(directory: URL(fileURLWithPath: modelDirectory))
    let ids = try checkedTokens(tokenizer.encode(text, addSpecialTokens: true), config: config, directory: modelDirectory)
    Progress.note("\(value): \(text.unicodeScalars.count) characters, \(ids.count) tokens")
    return ids
}

/// `ids` from the tokenizer in `directory`, checked against the model's vocabulary: a tokenizer with more
/// tokens than config.json's `vocab_size` would otherwise surface as a bare "token id … is not in the vocabulary".
///
/// - Throws: `CommandError` naming the first id ≥ `vocab_size`.
func checkedTokens(_ ids: [Int], config: any CausalLMConfig, directory: String) throws -> [Int] {
    let vocabSize = config.vocabSize
    if let bad = ids.first(where: { $0 >= vocabSize }) {
        throw CommandError("\(directory): the tokenizer and config.json disagree: the text encodes to token id \(bad), "
                           + "but vocab_size is \(vocabSize) (use the tokenizer files that belong to this model)")
    }
    return ids
}

/// The `--block` option: tokens per block, in 2…`max_position_embeddings` (a block needs a context token and a
/// target), `fallback` when absent.
///
/// - Throws: `CommandError` when the model has fewer than 2 positions (no block fits: checked first, so the message
///   never names an empty range such as "2…1"); `ArgumentError` for a value outside 2…positions.
func blockOption(_ o: ParsedOptions, model: any CausalLMConfig, default fallback: Int) throws -> Int {
    let positions = model.maxPositionEmbeddings
    guard positions >= 2 else {
        throw CommandError("the model has max_position_embeddings \(positions): a block needs at least 2 positions "
                           + "(a context token and a target)")
    }
    guard let v = o["--block"] else { return min(max(fallback, 2), positions) }
    guard let b = Int(v), b >= 2 else { throw ArgumentError("--block needs an integer in 2…\(positions), got '\(v)'") }
    guard b <= positions else {
        throw ArgumentError("--block must be at most max_position_embeddings \(positions), got \(b)")
    }
    return b
}

/// The error for a model whose outputs are not finite although its weights are (the load check passed): weights so
/// large that the logits overflow Float. Names the largest-magnitude weight, the likely culprit.
func nonFiniteModelOutput(_ model: any CausalLM, what: String) -> CommandError {
    var largest: (name: String, value: Float) = ("", 0)
    for p in model.parameters {
        p.tensor.withUnsafeBufferPointer { buf in
            for x in buf where abs(x) > abs(largest.value) { largest = (p.name, x) }
        }
    }
    return CommandError("non-finite result: \(what): the model's logits overflow Float; its largest weight is "
                        + "\(largest.value) in '\(largest.name)'")
}

/// Prints `value` as pretty, key-sorted JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // A backstop: fields that may be non-finite are `JSONNumber`s (null); should any other be, print it as a
    // string rather than fail with an internal EncodingError after the work is done.
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    try Console.out(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func formatted(_ x: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", x) }

/// Progress and notes on stderr: a self-overwriting line on a terminal, a line per 10% otherwise.
enum Progress {
    /// No progress or notes. Atomic: commands run concurrently in the tests (ThreadSanitizer reported the plain flag).
    static var quiet: Bool {
        get { quietFlag.load(ordering: .relaxed) }
        set { quietFlag.store(newValue, ordering: .relaxed) }
    }
    private static let quietFlag = Atomic<Bool>(false)
    private static let lastDecile = Atomic<Int>(-1)
    private static let isTTY = isatty(2) != 0

    static func note(_ s: String) {
        guard !quiet else { return }
        Console.note(s)
    }

    static func update(_ label: String, _ done: Int, _ total: Int) {
        guard !quiet, total > 0 else { return }
        let percent = 100 * done / total
        if isTTY {
            Console.note("\r\(label) \(done)/\(total) (\(percent)%)", terminator: done == total ? "\n" : "")
        } else if percent / 10 != lastDecile.load(ordering: .relaxed) || done == total {
            lastDecile.store(percent / 10, ordering: .relaxed)
            Console.note("\(label) \(done)/\(total) (\(percent)%)")
        }
    }
}

// MARK: - perplexity

let perplexityCommand = Command(
    name: "perplexity",
    summary: "tokens, mean negative log-likelihood and perplexity of a text under a model (OPT, GPT-2, Llama)",
    help: """
        usage: tint perplexity --model DIR (--file TEXT | --ids 2,31414,…) [--block N] [--json] [--quiet]

        Splits the tokens into consecutive blocks of at most N tokens and evaluates each on its own (its first
        token is context only), as `transformers`' OPTForCausalLM loss does per block.

          --model DIR     Hugging Face model directory, OPT, GPT-2 or Llama (config.json, model.safetensors or a
                          sharded index, and its tokenizer for --file)
          --file TEXT     a UTF-8 text file (- for stdin; pipes and FIFOs work), tokenized with the model's
                          tokenizer (</s> first, as OPT does); a leading byte-order mark is kept as the
                          character U+FEFF, as Python and `tokenizers` keep it
          --ids LIST      token ids instead of a text, e.g. 2,31414,232
          --block N       tokens per block (default 1024, at most max_position_embeddings)
          --json          machine-readable output on stdout
          --quiet         no progress on stderr
        """,
    run: { args in
        let o = try ParsedOptions(args, valued: ["--model", "--file", "--ids", "--block"], flags: ["--json", "--quiet"])
        Progress.quiet = o.has("--quiet")
        let dir = try o.required("--model")
        _ = try o.oneOf("--file", "--ids")
        if let v = o["--block"], (Int(v) ?? 0) < 2 { throw ArgumentError("--block needs an integer ≥ 2, got '\(v)'") }
        let model = try loadModel(dir)
        let block = try blockOption(o, model: model.config, default: 1024)
        let ids = try loadTokens(o, config: model.config, modelDirectory: dir)
        let start = Date()
        let r = try model.perplexity(ids: ids, block: block) { Progress.update("perplexity: tokens", $0, $1) }
        guard r.meanNLL.isFinite else { throw nonFiniteModelOutput(model, what: "the mean NLL is \(r.meanNLL)") }
        let seconds = Date().timeIntervalSince(start)
        if o.has("--json") {
            struct Output: Encodable {
                let tokens: Int, blocks: Int, block: Int
                let mean_nll: Double, perplexity: JSONNumber, seconds: Double
            }
            try printJSON(Output(tokens: r.tokens, blocks: r.blocks, block: block, mean_nll: r.meanNLL,
                                 perplexity: JSONNumber(value: r.perplexity), seconds: seconds))
        } else {
            try Console.out("tokens      \(r.tokens) (in \(r.blocks) block\(r.blocks == 1 ? "" : "s") of ≤ \(block))")
            try Console.out("mean NLL    \(formatted(r.meanNLL)) nats/token")
            try Console.out("perplexity  \(formatted(r.perplexity, 3))")
        }
    })

// MARK: - generate

let generateCommand = Command(
    name: "generate",
    summary: "continue a prompt (greedy, or sampled with temperature and top-k), with a KV cache",
    help: """
        usage: tint generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K]
                             [--seed S] [--no-stop] [--json] [--quiet]

          --model DIR        Hugging Face model directory, OPT, GPT-2 or Llama (with its tokenizer)
          --prompt TEXT      the text to continue (tokenized with </s> first, as OPT does)
          --max-tokens N     new tokens at most (default 32); stops early at </s> unless --no-stop
          --temperature T    0 (default) picks the most likely token; T > 0 samples from softmax(logits / T)
          --top-k K          sample among the K most likely tokens only
          --seed S           seed of the sampler (default 0): the same seed gives the same text
          --no-stop          keep going after the end-of-sequence token
          --json             machine-readable output on stdout (ids and text) instead of streaming the text
          --quiet            no notes on stderr
        """,
    run: { args in
        let o = try ParsedOptions(args, valued: ["--model", "--prompt", "--max-tokens", "--temperature", "--top-k", "--seed"],
                                  flags: ["--no-stop", "--json", "--quiet"])
        Progress.quiet = o.has("--quiet")
        let dir = try o.required("--model")
        let prompt = try o.required("--prompt")
        let maxTokens = try o.int("--max-tokens", in: 0...1_000_000, default: 32)!
        let sampling = Sampling(temperature: try o.double("--temperature", in: 0...1e6, default: 0)!,
                                   topK: try o.int("--top-k", in: 1...Int.max), seed: try o.uint64("--seed", default: 0))
        let model = try loadModel(dir)
        let tokenizer = try loadTokenizer(directory: URL(fileURLWithPath: dir))
        let promptIDs = try checkedTokens(tokenizer.encode(prompt, addSpecialTokens: true), config: model.config, directory: dir)
        let json = o.has("--json")
        if !json { try Console.out(prompt, terminator: "") }
        // Stream: print the text decoded so far whenever it grows by whole characters. The token callback cannot
        // throw, so a failed write is kept and thrown once generation returns (later tokens are not written).
        var streamed: [Int] = [], printed = "", writeError: OutputError?
        let start = Date()
        let generated = try model.generate(prompt: promptIDs, maxNewTokens: maxTokens, sampling: sampling,
                                           stopAtEOS: !o.has("--no-stop")) { token in
            guard !json, writeError == nil else { return }
            streamed.append(token)
            if let text = try? tokenizer.decode(streamed, skipSpecialTokens: true), !text.hasSuffix("\u{FFFD}"),
               text.hasPrefix(printed) {
                do { try Console.out(Sanitized.terminalText(String(text.dropFirst(printed.count))), terminator: "") } catch {
                    writeError = error as? OutputError
                }
                printed = text
            }
        }
        if let writeError { throw writeError }
        let seconds = Date().timeIntervalSince(start)
        let completion = try tokenizer.decode(generated, skipSpecialTokens: true)
        if json {
            struct Output: Encodable {
                let prompt: String, completion: String, prompt_ids: [Int], generated_ids: [Int]
                let temperature: Double, top_k: Int?, seed: UInt64, seconds: Double
            }
            try printJSON(Output(prompt: prompt, completion: completion, prompt_ids: promptIDs, generated_ids: generated,
                                 temperature: sampling.temperature, top_k: sampling.topK, seed: sampling.seed,
                                 seconds: seconds))
        } else {
            if completion.hasPrefix(printed) {
                try Console.out(Sanitized.terminalText(String(completion.dropFirst(printed.count))), terminator: "")
            }
            try Console.out("")
            Progress.note("\(generated.count) tokens in \(formatted(seconds, 2)) s")
        }
    })

// dynamic-eval and compare: DescentCommands.swift; params: ParamsCommand.swift; train: TrainCommand.swift.
let commands = [demoCommand, perplexityCommand, generateCommand, dynamicEvalCommand, compareCommand, iclCommand, paramsCommand, trainCommand]
