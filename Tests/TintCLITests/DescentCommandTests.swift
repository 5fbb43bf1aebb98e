import Foundation
import ModelZoo
import LanguageModel
import OPT
import Testing
import TinT
@testable import TintCLI

/// `tint dynamic-eval` and `tint compare` on the tiny OPT fixtures (Tests/OPTTests/Fixtures).
@Suite struct DescentCommandTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("OPTTests/Fixtures")
    static let preLN = fixtures.appendingPathComponent("tiny-opt-pre-ln").path
    static let postLN = fixtures.appendingPathComponent("tiny-opt-post-ln").path
    /// Three blocks of 8 whose eval half repeats the train half, so a dynamic update helps the eval part.
    static let ids: [Int] = [[2, 5, 9, 100], [200, 300, 17, 42], [400, 31, 250, 600]].flatMap { $0 + $0 }

    func config(lr: Double, steps: Int = 1) -> TinTConfig {
        TinTConfig(rowsPerPrefix: 4, simHeads: 20, learningRate: lr,
                   steps: steps)
    }

    /// Exact GD over blocks equals OPT's own dynamic evaluation (exact gradients, same summed loss), and the
    /// approximate method equals the oracle called block by block.
    @Test(arguments: [preLN, postLN])
    func approxAndExactMatchTheLibrary(_ path: String) throws {
        let model = try OPTModel.load(directory: URL(fileURLWithPath: path))
        let (lr, steps, block, fraction) = (0.05, 2, 8, 0.5)
        let r = try evaluateDescent(model: model, ids: Self.ids, trainFraction: fraction, block: block,
                                    config: config(lr: lr, steps: steps), methods: [.approx, .exact])
        #expect(r.blocks == 3 && r.trainTargets == 3 * 3)

        let opt = try model.dynamicEvaluation(ids: Self.ids, options: DynamicEvaluationOptions(
            trainFraction: fraction, learningRate: Float(lr), steps: steps, block: block))
        #expect(r.before.count == opt.evalTokens && r.after[.exact]!.count == opt.evalTokens)
        #expect(abs(r.before.mean - opt.evalLossBefore) <= 1e-5)
        #expect(abs(r.after[.exact]!.mean - opt.evalLossAfter) <= 1e-5)

        var sum = 0.0, count = 0
        for start in stride(from: 0, to: Self.ids.count, by: block) {
            let chunk = Array(Self.ids[start..<min(Self.ids.count, start + block)])
            let mask = (0..<chunk.count).map { $0 < chunk.count / 2 }
            let outcome = try approximateGradientDescent(model: model, ids: chunk, trainMask: mask,
                                                         config: config(lr: lr, steps: steps))
            let loss = try evalPartLoss(logits: outcome.logitsAfter, ids: chunk, trainMask: mask)
            sum += loss.sum
            count += loss.count
        }
        #expect(abs(r.after[.approx]!.mean - sum / Double(count)) <= 1e-9)
        print("\(path): eval loss before \(r.before.mean), approx \(r.after[.approx]!.mean), exact \(r.after[.exact]!.mean)")
        #expect(r.after[.approx]!.mean < r.before.mean && r.after[.exact]!.mean < r.before.mean)

        #expect(r.comparisons.count == 1 && r.comparisons[0].a == .approx && r.comparisons[0].b == .exact)
        let cosine = r.comparisons[0].comparison.cosine
        #expect(cosine > 0.5 && cosine < 1, "cosine \(cosine)")
    }

    @Test func noEvalTargetIsAnError() throws {
        let model = try OPTModel.load(directory: URL(fileURLWithPath: Self.preLN))
        #expect(throws: CommandError.self) {
            _ = try evaluateDescent(model: model, ids: Self.ids, trainFraction: 1, block: 8, config: config(lr: 0.1),
                                    methods: [.approx])
        }
    }

    @Test func commandsRejectBadArguments() throws {
        let base = ["--model", Self.preLN, "--ids", "2,5,9,100", "--train-fraction", "0.5", "--rows-per-prefix", "4",
                    "--sim-heads", "20", "--quiet"]
        #expect(throws: ArgumentError("--method is required")) { try dynamicEvalCommand.run(base) }
        #expect(throws: ArgumentError("--method must be one of tint, approx, exact, got 'sgd'")) {
            try dynamicEvalCommand.run(base + ["--method", "sgd"])
        }
        #expect(throws: ArgumentError("unknown option --method")) { try compareCommand.run(base + ["--method", "exact"]) }
        #expect(throws: ArgumentError("--block must be at most max_position_embeddings 64, got 65")) {
            try dynamicEvalCommand.run(base + ["--method", "exact", "--block", "65"])
        }
        #expect(throws: ArgumentError("--train-fraction is required")) {
            try dynamicEvalCommand.run(Array(base[0..<4]) + ["--method", "exact"])
        }
        do {
            try dynamicEvalCommand.run(base + ["--method", "tint", "--prefixes", "5"])
            Issue.record("--prefixes 5 must break rule prefixCount")
        } catch let TinTError.ruleViolation(rule, _, _) {
            #expect(rule == "prefixCount")
        }
        // The oracles do not depend on S, K or H_sim, so the construction's rules do not stop them.
        try dynamicEvalCommand.run(base + ["--method", "approx", "--prefixes", "5", "--json"])
        // A valid run completes (its output goes to stdout).
        try dynamicEvalCommand.run(base + ["--method", "approx", "--lr", "0.01", "--json"])
    }
}

/// `--method tint` and `tint params` through the CLI's own functions.
@Suite struct TinTMethodCommandTests {
    /// The tint method runs the simulator and lands on the approximate-GD oracle's eval loss.
    @Test(arguments: [DescentCommandTests.preLN, DescentCommandTests.postLN])
    func tintMatchesApprox(_ path: String) throws {
        let model = try OPTModel.load(directory: URL(fileURLWithPath: path))
        let config = TinTConfig(rowsPerPrefix: 4, simHeads: 20,
                                learningRate: 0.01)
        let r = try evaluateDescent(model: model, ids: DescentCommandTests.ids, trainFraction: 0.5, block: 8, config: config,
                                    methods: [.tint, .approx])
        let tint = r.after[.tint]!.mean, approx = r.after[.approx]!.mean
        #expect(abs(tint - approx) <= 1e-3 * abs(r.before.mean - approx), "tint \(tint), approx \(approx), before \(r.before.mean)")
    }

    @Test func paramsCountsAndRejects() throws {
        try paramsCommand.run(["--shape", "opt-125m"])
        try paramsCommand.run(["--model", DescentCommandTests.preLN, "--rows-per-prefix", "4", "--sim-heads", "20", "--json"])
        do {
            try paramsCommand.run(["--shape", "opt-350m", "--rows-per-prefix", "3"])
            Issue.record("opt-350m with an explicit S = 3 must break rule prefixCount")
        } catch TinTError.ruleViolation(let rule, _, _) {
            #expect(rule == "prefixCount")
        }
        #expect(throws: ArgumentError("--shape must be one of \(ReleasedShapes.names.joined(separator: ", ")), got 'opt-7b'")) {
            try paramsCommand.run(["--shape", "opt-7b"])
        }
    }
}
