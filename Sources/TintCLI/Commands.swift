import Foundation
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
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Shared helpers

/// Loads the model in `directory`, with a message on stderr (loading a large checkpoint takes a moment).
/// The family is chosen by `config.json`'s `model_type` (``ModelRegistry/zoo``).
func loadModel(_ directory: String) throws -> any CausalLM {
    let url = URL(fileURLWithPath: directory)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw CommandError("--model \(directory): no such directory (expected a Hugging Face model directory with "
                           + "config.json and model.safetensors; model types: \(ModelRegistry.zoo.modelTypes.joined(separator: ", ")))")
    }
    Progress.note("loading \(directory)…")
    let model = try ModelRegistry.zoo.load(directory: url)
    Progress.note("loaded: \(type(of: model.config).modelTypes[0]), \(model.config.numHiddenLayers) layers, "
                  + "hidden \(model.config.hiddenSize), \(model.parameterCount) parameters")
    return model
}

/// `model` as an OPT model, for the TinT methods (the compiler takes OPT graphs so far).
func requireOPT(_ model: any CausalLM, for what: String) throws -> OPTModel {
    guard let opt = model as? OPTModel else {
        throw CommandError("\(what) compiles OPT models only so far; this model's model_type is "
                           + "'\(type(of: model.config).modelTypes[0])' (use --method exact, which takes any family)")
    }
    return opt
}

/// The tokens to evaluate: `--ids` as given, or `--file` encoded with the model directory's tokenizer
/// (OPT's: `</s>` first).
func loadTokens(_ o: ParsedOptions, modelDirectory: String) throws -> [Int] {
    let (name, value) = try o.oneOf("--file", "--ids")
    if name == "--ids" { return try parseIDList(value) }
    let url = URL(fileURLWithPath: value)
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        throw CommandError("--file \(value): cannot be read (\(error.localizedDescription))")
    }
    guard let text = String(data: data, encoding: .utf8) else { throw CommandError("--file \(value): not UTF-8 text") }
    let tokenizer = try loadTokenizer(directory: URL(fileURLWithPath: modelDirectory))
    let ids = tokenizer.encode(text, addSpecialTokens: true)
    Progress.note("\(value): \(text.unicodeScalars.count) characters, \(ids.count) tokens")
    return ids
}

/// Prints `value` as pretty, key-sorted JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func formatted(_ x: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", x) }

/// Progress and notes on stderr: a self-overwriting line on a terminal, a line per 10% otherwise.
enum Progress {
    nonisolated(unsafe) static var quiet = false
    nonisolated(unsafe) private static var lastDecile = -1
    private static let isTTY = isatty(2) != 0

    static func note(_ s: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    static func update(_ label: String, _ done: Int, _ total: Int) {
        guard !quiet, total > 0 else { return }
        let percent = 100 * done / total
        if isTTY {
            FileHandle.standardError.write(Data("\r\(label) \(done)/\(total) (\(percent)%)\(done == total ? "\n" : "")".utf8))
        } else if percent / 10 != lastDecile || done == total {
            lastDecile = percent / 10
            FileHandle.standardError.write(Data("\(label) \(done)/\(total) (\(percent)%)\n".utf8))
        }
    }
}

// MARK: - perplexity

let perplexityCommand = Command(
    name: "perplexity",
    summary: "tokens, mean negative log-likelihood and perplexity of a text under an OPT model",
    help: """
        usage: tint perplexity --model DIR (--file TEXT | --ids 2,31414,…) [--block N] [--json] [--quiet]

        Splits the tokens into consecutive blocks of at most N tokens and evaluates each on its own (its first
        token is context only), as `transformers`' OPTForCausalLM loss does per block.

          --model DIR     Hugging Face OPT directory (config.json, model.safetensors or a sharded index,
                          vocab.json and merges.txt for --file)
          --file TEXT     a UTF-8 text file, tokenized with the model's tokenizer (</s> first, as OPT does)
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
        let requestedBlock = try o.int("--block", in: 2...Int.max)
        let model = try loadModel(dir)
        let ids = try loadTokens(o, modelDirectory: dir)
        let block = requestedBlock ?? min(1024, model.config.maxPositionEmbeddings)
        let start = Date()
        let r = try model.perplexity(ids: ids, block: block) { Progress.update("perplexity: tokens", $0, $1) }
        let seconds = Date().timeIntervalSince(start)
        if o.has("--json") {
            struct Output: Encodable {
                let tokens: Int, blocks: Int, block: Int
                let mean_nll: Double, perplexity: Double, seconds: Double
            }
            try printJSON(Output(tokens: r.tokens, blocks: r.blocks, block: block, mean_nll: r.meanNLL,
                                 perplexity: r.perplexity, seconds: seconds))
        } else {
            print("tokens      \(r.tokens) (in \(r.blocks) block\(r.blocks == 1 ? "" : "s") of ≤ \(block))")
            print("mean NLL    \(formatted(r.meanNLL)) nats/token")
            print("perplexity  \(formatted(r.perplexity, 3))")
        }
    })

// MARK: - generate

let generateCommand = Command(
    name: "generate",
    summary: "continue a prompt (greedy, or sampled with temperature and top-k), with a KV cache",
    help: """
        usage: tint generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K]
                             [--seed S] [--no-stop] [--json] [--quiet]

          --model DIR        Hugging Face OPT directory (with vocab.json and merges.txt)
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
        let promptIDs = tokenizer.encode(prompt, addSpecialTokens: true)
        let json = o.has("--json")
        if !json { FileHandle.standardOutput.write(Data(prompt.utf8)) }
        // Stream: print the text decoded so far whenever it grows by whole characters.
        var streamed: [Int] = [], printed = ""
        let start = Date()
        let generated = try model.generate(prompt: promptIDs, maxNewTokens: maxTokens, sampling: sampling,
                                           stopAtEOS: !o.has("--no-stop")) { token in
            guard !json else { return }
            streamed.append(token)
            if let text = try? tokenizer.decode(streamed, skipSpecialTokens: true), !text.hasSuffix("\u{FFFD}"),
               text.hasPrefix(printed) {
                FileHandle.standardOutput.write(Data(text.dropFirst(printed.count).utf8))
                printed = text
            }
        }
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
            if completion.hasPrefix(printed) { FileHandle.standardOutput.write(Data(completion.dropFirst(printed.count).utf8)) }
            print("")
            Progress.note("\(generated.count) tokens in \(formatted(seconds, 2)) s")
        }
    })

// dynamic-eval and compare: DescentCommands.swift; params: ParamsCommand.swift; train: TrainCommand.swift.
let commands = [demoCommand, perplexityCommand, generateCommand, dynamicEvalCommand, compareCommand, paramsCommand, trainCommand]
