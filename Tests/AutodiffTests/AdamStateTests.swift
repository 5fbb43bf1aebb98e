import Foundation
import Testing
import Tensor
@testable import Autodiff

/// `Adam.moments` / `restore(moments:)`: the state a training checkpoint saves.
@Suite struct AdamStateTests {
    let grads = (1...4).map { rand([5], UInt64($0)) }

    @Test func restoredStateContinuesExactly() throws {
        var straight = Adam<Double>.adamW(learningRate: 0.01)
        var p = try ParameterSet([("w", rand([5], 9)), ("b", rand([2], 8))])
        for g in grads { try straight.update(&p, along: try ParameterSet([("w", g)])) }

        var first = Adam<Double>.adamW(learningRate: 0.01)
        var q = try ParameterSet([("w", rand([5], 9)), ("b", rand([2], 8))])
        for g in grads.prefix(2) { try first.update(&q, along: try ParameterSet([("w", g)])) }
        let saved = first.moments
        #expect(Set(saved.keys) == ["w"] && saved["w"]!.step == 2)
        let savedFirst = saved["w"]!.first.scalars
        var scratch = q
        try first.update(&scratch, along: try ParameterSet([("w", grads[2])]))
        var second = Adam<Double>.adamW(learningRate: 0.01)
        try second.restore(moments: saved)
        for g in grads.suffix(2) { try second.update(&q, along: try ParameterSet([("w", g)])) }
        #expect(try q.tensor("w").scalars == p.tensor("w").scalars)
        #expect(second.moments["w"]!.step == 4)
        // The snapshot is a value: the later update of `first` did not change it.
        #expect(saved["w"]!.step == 2 && saved["w"]!.first.scalars == savedFirst)
        #expect(first.moments["w"]!.step == 3 && first.moments["w"]!.first.scalars != savedFirst)
    }

    @Test func restoreRejectsInconsistentMoments() throws {
        var adam = Adam<Double>()
        #expect(throws: AutodiffError.self) {
            try adam.restore(moments: ["w": AdamMoments(step: 1, first: rand([3], 1), second: rand([4], 2))])
        }
        #expect(throws: AutodiffError.self) {
            try adam.restore(moments: ["w": AdamMoments(step: -1, first: rand([3], 1), second: rand([3], 2))])
        }
        try adam.restore(moments: [:])
        #expect(adam.moments.isEmpty)
    }
}
