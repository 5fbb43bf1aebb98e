import Foundation
import Testing
import Tensor
@testable import LanguageModel
@testable import OPT

@Suite struct CheckpointTests {
    static let models = ["tiny-opt-pre-ln", "tiny-opt-post-ln", "tiny-opt-pre-ln-fp16"]

    @Test(arguments: models)
    func fixtureCheckpointsLoadStrictly(_ name: String) throws {
        let dir = Fixtures.url(name)
        let config = try OPTConfig(contentsOf: dir)
        let checkpoint = try SafetensorsCheckpoint(directory: dir)
        let tensors = try checkpoint.loadStrict(expected: config.checkpointShapes)
        #expect(tensors.count == config.checkpointShapes.count)
        for (key, t) in tensors {
            #expect(t.shape == config.checkpointShapes[key])
            let finite = t.scalars.allSatisfy { $0.isFinite }
            #expect(finite, "\(key)")
        }
        // Every parameter was given a distinct random value by the fixture script: none is constant.
        #expect(tensors.values.allSatisfy { Set($0.scalars).count > 1 })
    }

    @Test func shardedFP16CopyEqualsRoundedFP32() throws {
        let fp32 = try SafetensorsCheckpoint(directory: Fixtures.url("tiny-opt-pre-ln"))
        let fp16 = try SafetensorsCheckpoint(directory: Fixtures.url("tiny-opt-pre-ln-fp16"))
        #expect(fp16.files.count == 3)
        #expect(fp16.source.hasSuffix(SafetensorsIndex.fileName))
        #expect(fp32.tensorNames == fp16.tensorNames)
        for name in fp32.tensorNames {
            #expect(try fp16.info(for: name).dtype == .f16)
            let expected = try fp32.tensor(named: name).scalars.map { HalfPrecision.float(fromHalf: HalfPrecision.half(from: $0)) }
            #expect(try fp16.tensor(named: name).scalars == expected, "\(name)")
        }
    }

    @Test func bf16CopyEqualsRoundedFP32() throws {
        let fp32 = try SafetensorsCheckpoint(directory: Fixtures.url("tiny-opt-pre-ln"))
        let bf16 = try SafetensorsFile(contentsOf: Fixtures.url("tiny-opt-pre-ln-bf16.safetensors"))
        #expect(bf16.tensorNames == fp32.tensorNames)
        for name in fp32.tensorNames {
            #expect(try bf16.info(for: name).dtype == .bf16)
            let expected = try fp32.tensor(named: name).scalars.map { HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16(from: $0)) }
            #expect(try bf16.tensor(named: name).scalars == expected, "\(name)")
        }
    }

    @Test func strictLoadingNamesEveryDifference() throws {
        var writer = SafetensorsWriter()
        try writer.add("a", Tensor<Float>([1, 2]))
        try writer.add("b", try Tensor<Float>(shape: [2, 3], repeating: 1))
        try writer.add("extra.z", Tensor<Float>([0]))
        try writer.add("extra.y", Tensor<Float>([0]))
        let file = try SafetensorsFile(data: writer.serialized(), source: "ck.safetensors")
        let checkpoint = try SafetensorsCheckpoint(files: [file], source: "ck.safetensors")
        let expected: [String: [Int]] = ["a": [2], "b": [3, 2], "c": [4], "d": [1], "tied": [5]]
        let error = #expect(throws: ModelError.self) {
            try checkpoint.loadStrict(expected: expected, optional: ["tied"])
        }
        #expect(error == .checkpointMismatch(file: "ck.safetensors", missing: ["c", "d"], unexpected: ["extra.y", "extra.z"],
                                             wrongShapes: [TensorShapeMismatch(name: "b", expected: [3, 2], found: [2, 3])]))
        #expect(error?.description == "ck.safetensors: checkpoint does not match the model: 2 missing: 'c', 'd'; "
                + "2 unexpected: 'extra.y', 'extra.z'; 1 with the wrong shape: 'b' expected [3, 2], found [2, 3]")
        // Optional names may be absent, but when present their shape is checked too.
        try checkpoint.checkStrict(expected: ["a": [2], "b": [2, 3], "extra.y": [1], "extra.z": [1], "tied": [5]], optional: ["tied"])
        #expect(throws: ModelError.checkpointMismatch(file: "ck.safetensors", missing: [], unexpected: [],
                                                    wrongShapes: [TensorShapeMismatch(name: "a", expected: [3], found: [2])])) {
            try checkpoint.checkStrict(expected: ["a": [3], "b": [2, 3], "extra.y": [1], "extra.z": [1]], optional: ["a"])
        }
    }

    @Test func realConfigRejectsPostLNCheckpointForPreLNShapes() throws {
        var config = try OPTConfig(contentsOf: Fixtures.url("tiny-opt-post-ln"))
        config.doLayerNormBefore = true  // now expects a final layer norm and no projections… wrongly
        config.wordEmbedProjDim = config.hiddenSize
        let checkpoint = try SafetensorsCheckpoint(directory: Fixtures.url("tiny-opt-post-ln"))
        let error = #expect(throws: ModelError.self) { try checkpoint.checkStrict(expected: config.checkpointShapes) }
        guard case let .checkpointMismatch(_, missing, unexpected, wrong)? = error else { return }
        #expect(missing == ["model.decoder.final_layer_norm.bias", "model.decoder.final_layer_norm.weight"])
        #expect(unexpected == ["model.decoder.project_in.weight", "model.decoder.project_out.weight"])
        #expect(wrong == [TensorShapeMismatch(name: "model.decoder.embed_tokens.weight", expected: [632, 32], found: [632, 16])])
    }

    // MARK: Sharded index errors

    /// Writes a sharded checkpoint: shards of single tensors plus an index text.
    func makeSharded(_ dir: URL, shards: [String: [String]], index: String) throws {
        for (shard, names) in shards {
            var w = SafetensorsWriter()
            for n in names { try w.add(n, Tensor<Float>([1, 2])) }
            try w.write(to: dir.appendingPathComponent(shard))
        }
        try Data(index.utf8).write(to: dir.appendingPathComponent(SafetensorsIndex.fileName))
    }

    func indexError(_ shards: [String: [String]], _ index: String) throws -> (ModelError?, URL) {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try makeSharded(dir, shards: shards, index: index)
        let error = #expect(throws: ModelError.self) { try SafetensorsCheckpoint(directory: dir) }
        return (error, dir)
    }

    @Test func shardedCheckpointLoads() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try makeSharded(dir, shards: ["s1.safetensors": ["a", "b"], "s2.safetensors": ["c"]],
                        index: #"{"metadata":{"total_size":24},"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors"}}"#)
        let checkpoint = try SafetensorsCheckpoint(directory: dir)
        #expect(checkpoint.tensorNames == ["a", "b", "c"])
        #expect(try checkpoint.file(containing: "c").source.hasSuffix("s2.safetensors"))
        #expect(try checkpoint.tensor(named: "c").scalars == [1, 2])
        let index = try SafetensorsIndex(contentsOf: dir.appendingPathComponent(SafetensorsIndex.fileName))
        #expect(index.totalSize == 24)
        #expect(index.shardNames == ["s1.safetensors", "s2.safetensors"])
    }

    @Test func indexDisagreeingWithShardsIsNamed() throws {
        let (e1, d1) = try indexError(["s1.safetensors": ["a"], "s2.safetensors": ["b"]],
                                      #"{"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}}"#)
        guard case let .invalidIndex(file, reason)? = e1 else { Issue.record("\(String(describing: e1))"); return }
        #expect(file == d1.appendingPathComponent(SafetensorsIndex.fileName).path)
        #expect(reason.contains("tensor 'b' in shard 's1.safetensors', which does not hold it"))

        let (e2, _) = try indexError(["s1.safetensors": ["a", "x"]], #"{"weight_map":{"a":"s1.safetensors"}}"#)
        #expect(e2?.description.contains("shard 's1.safetensors' holds tensor 'x', which the index does not list") == true)

        let (e3, d3) = try indexError(["s1.safetensors": ["a"]], #"{"weight_map":{"a":"s1.safetensors","b":"gone.safetensors"}}"#)
        #expect(e3 == .io(file: d3.appendingPathComponent("gone.safetensors").path, reason: "no such file"))
    }

    @Test func malformedIndexes() throws {
        let cases: [(String, String)] = [
            ("[]", "not a JSON object"),
            ("{}", "no \"weight_map\""),
            (#"{"weight_map":[]}"#, "not an object"),
            (#"{"weight_map":{"a":3}}"#, "not a file name"),
            (#"{"weight_map":{"a":"../escape.safetensors"}}"#, "not a plain file name"),
            (#"{"weight_map":{"a":"/etc/passwd"}}"#, "not a plain file name"),
            (#"{"weight_map":{"a":"x","a":"y"}}"#, "duplicate key"),
            ("{\"weight_map\":", "invalid JSON"),
        ]
        for (text, fragment) in cases {
            let error = #expect(throws: ModelError.self) { try SafetensorsIndex(data: Data(text.utf8), source: "idx") }
            guard case let .invalidIndex(file, reason)? = error else { Issue.record("\(text)"); continue }
            #expect(file == "idx")
            #expect(reason.contains(fragment), "\(reason)")
        }
    }

    @Test func shardErrorsNameTheShard() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try makeSharded(dir, shards: ["good.safetensors": ["a"]],
                        index: #"{"weight_map":{"a":"good.safetensors","b":"bad.safetensors"}}"#)
        let bad = dir.appendingPathComponent("bad.safetensors")
        try safetensorsBytes(#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [1, 2, 3]).write(to: bad)
        let error = #expect(throws: ModelError.self) { try SafetensorsCheckpoint(directory: dir) }
        guard case let .malformedSafetensors(file, tensor, _, _)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(file == bad.path)
        #expect(tensor == "b")
    }

    @Test func duplicateTensorsAcrossFilesAreRejected() throws {
        var w = SafetensorsWriter()
        try w.add("a", Tensor<Float>([1]))
        let f1 = try SafetensorsFile(data: w.serialized(), source: "one")
        let f2 = try SafetensorsFile(data: w.serialized(), source: "two")
        #expect(throws: ModelError.invalidIndex(file: "both", reason: "tensor 'a' is in both 'one' and 'two'")) {
            try SafetensorsCheckpoint(files: [f1, f2], source: "both")
        }
    }

    @Test func directoryWithoutCheckpoint() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data([0]).write(to: dir.appendingPathComponent("pytorch_model.bin"))
        let error = #expect(throws: ModelError.self) { try SafetensorsCheckpoint(directory: dir) }
        #expect(error?.description.contains("neither model.safetensors nor model.safetensors.index.json") == true)
        #expect(error?.description.contains("pytorch_model.bin") == true)
    }
}
