import Foundation
import Tensor
import Testing
@testable import LanguageModel
@testable import OPT

// Regression tests for the fuzz targets' findings (Fuzz/, Docs/RELIABILITY.md), resource limits, atomic
// checkpoint writes and the NaN/Inf check at load.

/// The ModelError a throwing call produced, or nil (recording an issue) when it threw something else or nothing.
func optError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> ModelError? {
    do {
        try body()
        Issue.record("no error was thrown", sourceLocation: sourceLocation)
    } catch let e as ModelError {
        return e
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite struct ResourceLimitTests {
    func configError(_ json: String) -> String? {
        guard let e = optError({ _ = try OPTConfig(data: Data(json.utf8), source: "c.json") }) else { return nil }
        guard case let .invalidConfig(file, reason) = e, file == "c.json" else { Issue.record("\(e)"); return nil }
        return reason
    }

    // Fuzz/Config found: max_position_embeddings = Int.max overflowed `+ 2` in the shape table (a trap), and
    // a huge num_hidden_layers made loading build a name table for 10^8 layers.
    @Test func configDimensionsAreBounded() {
        #expect(configError(#"{"max_position_embeddings": 9223372036854775807}"#)?
            .contains("max_position_embeddings 9223372036854775807 exceeds the limit of 2147483647") == true)
        #expect(configError(#"{"num_hidden_layers": 100000000}"#)?
            .contains("num_hidden_layers 100000000 exceeds the limit of 10000") == true)
        #expect(configError(#"{"vocab_size": 2147483648}"#)?.contains("vocab_size 2147483648 exceeds") == true)
        // Every dimension in range, but the parameter count overflows Int.
        let huge = #"{"vocab_size": 2147483647, "hidden_size": 2147483646, "d_model": 2147483646, "ffn_dim": 2147483647, "#
            + #""num_attention_heads": 2, "num_hidden_layers": 10000, "max_position_embeddings": 2147483647}"#
        #expect(configError(huge)?.contains("more than 9223372036854775807 parameters") == true)
        // The limits themselves are accepted.
        var c = OPTConfig()
        c.maxPositionEmbeddings = OPTConfig.maxDimension
        c.numHiddenLayers = 2
        #expect(throws: Never.self) { try c.validate() }
        #expect(c.checkpointShapes["model.decoder.embed_positions.weight"] == [OPTConfig.maxDimension + 2, 768])
    }

    @Test func checkedParameterCountMatchesTheShapes() throws {
        for config in [smallConfig(), smallConfig(preLN: false, projection: true), {
            var c = smallConfig(); c.enableBias = false; c.layerNormElementwiseAffine = false; c.tieWordEmbeddings = false
            return c
        }()] {
            let model = try OPTModel(config: config, seed: 1)
            #expect(config.checkedParameterCount == model.parameterCount)
        }
    }

    @Test func headerClaimingAHugeTensorIsRefusedBeforeAllocation() {
        // 2^40 × 2^20 F32 elements claimed over 8 bytes: refused from the header alone.
        let header = #"{"a":{"dtype":"F32","shape":[1099511627776,1048576],"data_offsets":[0,8]}}"#
        let e = optError { _ = try SafetensorsFile(data: safetensorsBytes(header, f32Bytes([1, 2])), source: "big") }
        #expect(e?.description.contains("needs 4611686018427387904") == true, "\(String(describing: e))")
        // Offsets claiming more bytes than the file has.
        let long = #"{"a":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#
        let e2 = optError { _ = try SafetensorsFile(data: safetensorsBytes(long, f32Bytes([1, 2])), source: "big") }
        #expect(e2?.description.contains("run past the end of the 8-byte data buffer") == true)
    }

    @Test func sequenceLongerThanThePositionsIsRefused() throws {
        let model = try randomModel(smallConfig(maxPositions: 6), seed: 3)
        #expect(throws: Never.self) { _ = try model.logits([1, 2, 3, 4, 5, 6]) }
        let e = optError { _ = try model.logits([1, 2, 3, 4, 5, 6, 7]) }
        #expect(e?.description.contains("max_position_embeddings 6") == true, "\(String(describing: e))")
        let bad = optError { _ = try model.logits([1, 37]) }
        #expect(bad == .invalidTokenID(id: 37, vocabularySize: 37))
    }
}

@Suite struct AtomicWriteTests {
    func files(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    struct Interrupted: Error {}

    @Test func failedWriteLeavesTheOldFileIntact() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.safetensors")
        try SafetensorsWriter.write(["a": Tensor([1, 2, 3])], to: url)
        let before = try Data(contentsOf: url)
        // A write that fails half-way (here: the body throws after writing a prefix).
        let e = optError {
            try writeAtomically(to: url) { handle in
                try handle.write(contentsOf: Data(before.prefix(10)))
                throw Interrupted()
            }
        }
        guard case let .io(file, reason)? = e else { Issue.record("\(String(describing: e))"); return }
        #expect(file == url.path && reason.contains("cannot be written"))
        #expect(try Data(contentsOf: url) == before)
        #expect(try files(in: dir) == ["model.safetensors"])  // no temporary file left behind
        #expect(try SafetensorsFile(contentsOf: url).tensor(named: "a").scalars == [1, 2, 3])
    }

    @Test func writerAndSaveReplaceFilesWholeAndLeaveNoTemporaries() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("x.safetensors")
        try SafetensorsWriter.write(["a": Tensor([1, 2, 3])], to: url)
        try SafetensorsWriter.write(["b": Tensor([4])], to: url)
        #expect(try SafetensorsFile(contentsOf: url).tensorNames == ["b"])
        let model = try randomModel(smallConfig(), seed: 5)
        try model.save(to: dir)
        try model.save(to: dir, dtype: .bf16)
        #expect(try files(in: dir) == ["config.json", "model.safetensors", "x.safetensors"])
        #expect(try OPTModel.load(directory: dir).config == model.config)
    }

    @Test func unwritableDestinationIsAnIOErrorNamingTheFile() {
        let url = URL(fileURLWithPath: "/nonexistent-dir-\(UUID().uuidString)/m.safetensors")
        let e = optError { try SafetensorsWriter.write(["a": Tensor([1])], to: url) }
        guard case let .io(file, reason)? = e else { Issue.record("\(String(describing: e))"); return }
        #expect(file == url.path && reason.contains("cannot be created"))
    }
}

@Suite struct FiniteCheckTests {
    @Test func firstNonFiniteFindsTheFirstBadElement() {
        for n in [1, 7, 13, 16, 65, 257, 4096, 4097, 9000] {
            var xs = (0..<n).map { Float($0 % 13) - 6 }
            xs.withUnsafeBufferPointer { #expect(firstNonFinite($0.baseAddress!, count: n) == nil) }
            for (position, bad) in [(n - 1, Float.nan), (n / 2, -.infinity), (0, .infinity)] {
                var ys = xs
                ys[position] = bad
                if position > 0 { ys[n - 1] = .nan }  // a later bad element does not hide the first
                ys.withUnsafeBufferPointer { #expect(firstNonFinite($0.baseAddress!, count: n) == position, "n \(n)") }
            }
            xs[n - 1] = .greatestFiniteMagnitude
            xs.withUnsafeBufferPointer { #expect(firstNonFinite($0.baseAddress!, count: n) == nil) }
        }
    }

    @Test func loadRefusesNaNWeightsNamingTheTensorAndElement() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var model = try randomModel(smallConfig(), seed: 11)
        let name = OPTModel.layerName(1, "fc1.weight")  // [24, 16]
        var w = model.parameters[name]!
        w.withUnsafeMutableBufferPointer { $0[2 * 16 + 5] = .nan; $0[3 * 16] = .infinity }
        try model.parameters.set(name, w)
        try model.save(to: dir)
        let e = optError { _ = try OPTModel.load(directory: dir) }
        let file = dir.appendingPathComponent("model.safetensors").path
        #expect(e == .nonFiniteValue(file: file, tensor: name, index: [2, 5], value: "nan"))
        #expect(e?.description.contains("holds nan at [2, 5]") == true)
        #expect(optError { try model.validateFinite() } == .nonFiniteValue(file: "<parameters>", tensor: name,
                                                                           index: [2, 5], value: "nan"))
        // Opting out loads the weights as they are.
        let loaded = try OPTModel.load(directory: dir, checkFinite: false)
        #expect(loaded.parameters[name]!.scalars[2 * 16 + 5].isNaN)
        // Infinity is reported too.
        w.withUnsafeMutableBufferPointer { $0[2 * 16 + 5] = 1 }
        try model.parameters.set(name, w)
        #expect(optError { try model.validateFinite() } == .nonFiniteValue(file: "<parameters>", tensor: name,
                                                                           index: [3, 0], value: "inf"))
    }

    @Test func finiteFixturesLoad() throws {
        #expect(throws: Never.self) { try OPTModel.load(directory: Fixtures.url("tiny-opt-pre-ln")).validateFinite() }
    }
}

@Suite struct HalfPrecisionOverflowTests {
    // F16's largest finite value is 65504; values from 65520 up round to infinity (ties to even).
    @Test func conversionOfLargeValuesIsInfinityAsDocumented() {
        #expect(HalfPrecision.half(from: 65504) == 0x7BFF)
        #expect(HalfPrecision.half(from: 65519.99) == 0x7BFF)
        #expect(HalfPrecision.half(from: 65520) == 0x7C00)
        #expect(HalfPrecision.half(from: -1e6) == 0xFC00)
        #expect(HalfPrecision.bfloat16(from: .greatestFiniteMagnitude) == 0x7F80)
        #expect(HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16(from: 3.3e38)).isFinite)
    }

    @Test func writerRefusesValuesThatWouldBecomeInfinity() throws {
        var writer = SafetensorsWriter()
        try writer.add("ok", Tensor([65504, -65519, .nan, .infinity]), as: .f16)  // NaN/inf are kept as such
        let big = try Tensor<Float>(shape: [2, 3], scalars: [0, 1, 2, 3, 70000, 5])
        let e = optError { try writer.add("big", big, as: .f16) }
        guard case let .invalidArgument(_, reason)? = e else { Issue.record("\(String(describing: e))"); return }
        #expect(reason.contains("'big' holds 70000.0 at [1, 1]") && reason.contains("65504"), "\(reason)")
        #expect(throws: Never.self) { try writer.add("big", big, as: .f32) }  // F32 holds it
        try writer.add("inf", big, as: .f16, allowingOverflow: true)           // as PyTorch's .half()
        let file = try SafetensorsFile(data: writer.serialized())
        #expect(try file.tensor(named: "inf").scalars[4] == .infinity)
        let huge = Tensor<Double>([1e39])
        #expect(optError { try writer.add("d", huge, as: .bf16) } != nil)
        #expect(throws: Never.self) { try writer.add("d", huge, as: .f64) }
    }
}

@Suite struct FuzzRegressionTests {
    /// The Config target's reproducers (a trap on `Int.max + 2`, a 10^8-layer name table) now fail cleanly.
    @Test func configReproducersFailCleanly() throws {
        let config = #"{"max_position_embeddings": 9223372036854775807}"#
        #expect(throws: ModelError.self) { _ = try OPTConfig(data: Data(config.utf8)) }
        let layers = #"{"num_hidden_layers": 100000000}"#
        #expect(throws: ModelError.self) { _ = try OPTConfig(data: Data(layers.utf8)) }
    }

    @Test func tokenizerFilesParseFromBytes() throws {
        let dir = Fixtures.url("tokenizer")
        var vocabulary = try BPETokenizer.parseVocabulary(try Data(contentsOf: dir.appendingPathComponent("vocab.json")), source: "v")
        var special = BPETokenizer.SpecialTokens.opt
        try BPETokenizer.parseSpecialTokens(try Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json")),
                                            source: "t", into: &special, vocabulary: &vocabulary)
        let merges = try BPETokenizer.parseMerges(try Data(contentsOf: dir.appendingPathComponent("merges.txt")), source: "m")
        let fromBytes = try BPETokenizer(vocabulary: vocabulary, merges: merges, specialTokens: special)
        let fromFiles = try BPETokenizer(directory: dir)
        let text = "Hello there, they've said: 漢字 🙂</s>"
        #expect(fromBytes.encode(text) == fromFiles.encode(text))
        let e = optError { _ = try BPETokenizer.parseMerges(Data("a b c\n".utf8), source: "m.txt") }
        #expect(e?.description.hasPrefix("m.txt: invalid tokenizer: line 1") == true)
    }
}
